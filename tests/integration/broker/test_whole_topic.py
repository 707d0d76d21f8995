"""WholeTopic, the one group-less reader of a topic: every partition, from a time, ending when quiet."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer

from streams.kafka.topicreader import WholeTopic
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.settings import Settings

pytestmark = pytest.mark.integration


async def produce(bootstrap: str, topic: str, values: list[bytes], *, partitions: int) -> None:
    async with AIOKafkaProducer(bootstrap_servers=bootstrap) as producer:
        for i, value in enumerate(values):
            await producer.send_and_wait(topic, value, partition=i % partitions)


@pytest.fixture
async def topic(kafka_bootstrap: str, unique_name: str) -> str:
    await ensure_topics(kafka_bootstrap, [TopicSpec(name=unique_name, partitions=3)])
    return unique_name


async def test_reads_every_partition_and_ends_once_quiet(kafka_bootstrap: str, topic: str) -> None:
    values = [f"v{i}".encode() for i in range(30)]
    await produce(kafka_bootstrap, topic, values, partitions=3)
    read: list[bytes] = []
    async with WholeTopic(
        Settings(bootstrap=kafka_bootstrap), topic
    ) as reader:  # partitions asked of the broker
        async with asyncio.timeout(60):
            async for records in reader.batches(idle_s=1.0):
                read.extend(r.value for r in records if r.value is not None)
    assert sorted(read) == sorted(values)


async def test_starts_at_the_first_record_since_a_time(kafka_bootstrap: str, topic: str) -> None:
    await produce(kafka_bootstrap, topic, [b"old-1", b"old-2", b"old-3"], partitions=3)
    await asyncio.sleep(0.05)  # the records' timestamps must fall before since_ms: the thing under test
    since_ms = int(time.time() * 1000)
    await produce(kafka_bootstrap, topic, [b"new-1", b"new-2", b"new-3"], partitions=3)
    read: list[bytes] = []
    async with WholeTopic(Settings(bootstrap=kafka_bootstrap), topic, since_ms=since_ms) as reader:
        async with asyncio.timeout(60):
            async for records in reader.batches(idle_s=1.0):
                read.extend(r.value for r in records if r.value is not None)
    assert sorted(read) == [b"new-1", b"new-2", b"new-3"]


async def test_a_follow_sees_records_written_after_it_began(kafka_bootstrap: str, topic: str) -> None:
    async with WholeTopic(Settings(bootstrap=kafka_bootstrap), topic, partitions=range(3)) as reader:
        writing = asyncio.create_task(produce(kafka_bootstrap, topic, [b"a", b"b", b"c", b"d"], partitions=3))
        read: list[bytes] = []
        async with asyncio.timeout(60):
            async for records in reader.batches():
                read.extend(r.value for r in records if r.value is not None)
                if len(read) == 4:
                    break
        await writing
    assert sorted(read) == [b"a", b"b", b"c", b"d"]
