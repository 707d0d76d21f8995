"""ensure_topics creates what is missing, leaves what exists, and never auto-creates by asking."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.kafka.topics import TopicSpec, describe_partitions, ensure_topics


def test_topic_spec_rejects_invalid_names_and_counts() -> None:
    with pytest.raises(ValueError, match="not valid"):
        TopicSpec(name="bad name", partitions=1)
    with pytest.raises(ValueError, match="partitions must be at least 1"):
        TopicSpec(name="ok", partitions=0)
    spec = TopicSpec(name="ok", partitions=1, config={"cleanup.policy": "compact"})
    with pytest.raises(TypeError):
        spec.config["cleanup.policy"] = "delete"  # type: ignore[index]


async def test_conflicting_declarations_of_one_topic_are_refused() -> None:
    specs = [TopicSpec(name="t", partitions=4), TopicSpec(name="t", partitions=8)]
    with pytest.raises(ValueError, match="declared twice"):
        await ensure_topics("127.0.0.1:1", specs)


@pytest.mark.integration
async def test_ensure_topics_creates_absent_topics_once(kafka_bootstrap: str, unique_name: str) -> None:
    specs = [
        TopicSpec(name=f"a-{unique_name}", partitions=4),
        TopicSpec(name=f"b-{unique_name}", partitions=2),
    ]
    assert await ensure_topics(kafka_bootstrap, specs) == [s.name for s in specs]
    assert await ensure_topics(kafka_bootstrap, specs) == []
    assert await describe_partitions(kafka_bootstrap, specs[0].name) == 4
    assert await describe_partitions(kafka_bootstrap, specs[1].name) == 2


@pytest.mark.integration
async def test_existing_topic_with_fewer_partitions_is_kept_with_a_warning(
    kafka_bootstrap: str, unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"narrow-{unique_name}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(name=name, partitions=2)])
    with caplog.at_level(logging.WARNING, logger="streams.kafka.topics"):
        created = await ensure_topics(kafka_bootstrap, [TopicSpec(name=name, partitions=8)])
    assert created == []
    assert await describe_partitions(kafka_bootstrap, name) == 2
    assert f"topic {name} has 2 partitions but 8 are declared" in caplog.text


@pytest.mark.integration
async def test_describe_partitions_of_unknown_topic_is_zero_and_creates_nothing(
    kafka_bootstrap: str, unique_name: str
) -> None:
    name = f"ghost-{unique_name}"
    assert await describe_partitions(kafka_bootstrap, name) == 0
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert name not in await admin.list_topics()
    finally:
        await admin.close()


@pytest.mark.integration
async def test_compacted_topic_is_created_and_keeps_the_latest_value_per_key(
    kafka_bootstrap: str, unique_name: str
) -> None:
    name = f"changelog-{unique_name}"
    spec = TopicSpec(name=name, partitions=1, config={"cleanup.policy": "compact"})
    assert await ensure_topics(kafka_bootstrap, [spec]) == [name]

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    finally:
        await admin.close()
    [(_code, _message, _type, _name, entries)] = response.resources
    configs = {entry[0]: entry[1] for entry in entries}
    assert configs["cleanup.policy"] == "compact"

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(30):
            await producer.send_and_wait(name, b"v%d" % i, key=b"k%d" % (i % 3))
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, fetch_max_wait_ms=10)
    await consumer.start()
    latest: dict[bytes, bytes] = {}
    try:
        tp = TopicPartition(name, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        async with asyncio.timeout(10):
            while latest.get(b"k2") != b"v29":
                for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    latest[record.key] = record.value
    finally:
        await consumer.stop()
    assert latest == {b"k0": b"v27", b"k1": b"v28", b"k2": b"v29"}
