"""aiokafka clients configured from Settings, the same way in every role.

With the default ``at_least_once`` guarantee no client requires broker features
that some brokers lack: the producer is not idempotent (Tansu's InitProducerId
fails), consumers commit manually, and the fetch wait is short because Tansu
answers a fetch only after it. With ``exactly_once`` consumers read only
committed records, and a group's committed offsets only once no transaction
holds them (:mod:`streams.kafka.stableoffsets`); the transactional producer is built
in :mod:`streams.runtime.transactions` from :func:`producer_options`.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from streams.kafka.stableoffsets import ReadCommittedConsumer
from streams.settings import Settings

# Room for a dead letter that carries the largest accepted request plus its reason.
_PRODUCER_HEADROOM = 2


class _RetriedOffsetLookups(logging.Filter):
    """aiokafka logs, at ERROR, every failed offset lookup of a consumer, and retries it: a topic just
    created answers NOT_LEADER_OR_FOLLOWER for a moment while its leader takes over, and each retry
    printed a line. Such retriable failures go out at DEBUG; any other stays an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != "Failed fetch offsets from %s: %s" or not isinstance(record.args, tuple):
            return True
        error = record.args[-1] if record.args else None
        if not (isinstance(error, KafkaError) and error.retriable):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


logging.getLogger("aiokafka.consumer.fetcher").addFilter(_RetriedOffsetLookups())


def producer_options(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments of every graphfetch producer; ``overrides`` win."""
    options: dict[str, Any] = {
        **settings.kafka_client_options(),
        "acks": "all",
        "linger_ms": settings.linger_ms,
        "enable_idempotence": False,
        "max_request_size": settings.max_message_bytes * _PRODUCER_HEADROOM,
        "request_timeout_ms": settings.send_timeout_ms,
    }
    options.update(overrides)
    return options


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(**producer_options(settings, **overrides))


def make_consumer(
    settings: Settings, *topics: str, group_id: str | None, **overrides: Any
) -> AIOKafkaConsumer:
    options: dict[str, Any] = {
        **settings.kafka_client_options(),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "session_timeout_ms": settings.session_timeout_ms,
        "rebalance_timeout_ms": settings.rebalance_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        "max_partition_fetch_bytes": settings.max_message_bytes * _PRODUCER_HEADROOM,
        "fetch_max_bytes": max(52_428_800, settings.max_message_bytes * _PRODUCER_HEADROOM),
    }
    if settings.processing_guarantee == "exactly_once":
        # Records of aborted (or still open) transactions are never seen.
        options["isolation_level"] = "read_committed"
    options.update(overrides)
    if settings.processing_guarantee == "exactly_once" and group_id is not None:
        # Its committed offsets are read only once no transaction holds them.
        return ReadCommittedConsumer(*topics, **options)
    return AIOKafkaConsumer(*topics, **options)
