"""Producing as a service team would with librdkafka's Python binding (confluent-kafka), no graphfetch code."""

from __future__ import annotations

from typing import Any

__all__ = ["produce_with_librdkafka"]


def produce_with_librdkafka(
    bootstrap: str,
    topic: str,
    *,
    key: bytes,
    value: bytes,
    headers: list[tuple[str, str | bytes | None]] | None = None,
) -> None:
    """What a service team would write: a plain confluent-kafka producer, no graphfetch code."""
    from confluent_kafka import Producer

    delivered: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(
        topic, value=value, key=key, headers=headers, on_delivery=lambda err, _: delivered.append(err)
    )
    assert producer.flush(30) == 0, "the request was not delivered within 30 s"
    assert delivered == [None], f"delivery failed: {delivered}"
