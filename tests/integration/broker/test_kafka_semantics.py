"""Broker behaviours graphfetch's design relies on, pinned against the session's broker.

Group settings are portable: Apache Kafka refuses sessions under 6 s
(group.min.session.timeout.ms); Tansu then takes about 3 s per join.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.partitioner import murmur2

from streams.kafka.topics import TopicSpec, ensure_topics

pytestmark = pytest.mark.integration

GROUP_SETTINGS: dict[str, Any] = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 500,
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "fetch_max_wait_ms": 10,
    "partition_assignment_strategy": (RangePartitionAssignor,),
}


class AssignmentTracker(ConsumerRebalanceListener):  # type: ignore[misc]
    """Records a member's current assignment and wakes waiters on every change."""

    def __init__(self, changed: asyncio.Condition) -> None:
        self.current: frozenset[TopicPartition] = frozenset()
        self._changed = changed

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._changed:
            self.current = frozenset()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        async with self._changed:
            self.current = frozenset(assigned)
            self._changed.notify_all()


async def wait_for(changed: asyncio.Condition, predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(30), changed:
        await changed.wait_for(predicate)


async def read_one(bootstrap: str, tp: TopicPartition, offset: int) -> Any:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=10)
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, offset)
        async with asyncio.timeout(10):
            return await consumer.getone(tp)
    finally:
        await consumer.stop()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> Any:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=0)
    await producer.start()
    yield producer
    await producer.stop()


async def test_range_assignor_gives_each_member_the_same_partitions_of_both_topics(
    kafka_bootstrap: str, unique_name: str
) -> None:
    topics = [f"requests-{unique_name}", f"results-{unique_name}"]
    await ensure_topics(kafka_bootstrap, [TopicSpec(name=t, partitions=4) for t in topics])
    changed = asyncio.Condition()
    trackers = [AssignmentTracker(changed), AssignmentTracker(changed)]
    members = [
        AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=unique_name, **GROUP_SETTINGS)
        for _ in trackers
    ]
    try:
        for member, tracker in zip(members, trackers, strict=True):
            member.subscribe(topics, listener=tracker)
            await member.start()

        def balanced() -> bool:
            return all(len(t.current) == 4 for t in trackers)

        await wait_for(changed, balanced)
    finally:
        for member in members:
            await member.stop()

    owned = [{t: {tp.partition for tp in tr.current if tp.topic == t} for t in topics} for tr in trackers]
    for partitions in owned:
        assert partitions[topics[0]] == partitions[topics[1]]
    assert owned[0][topics[0]] | owned[1][topics[0]] == {0, 1, 2, 3}


async def test_new_consumer_resumes_at_the_committed_offset(
    kafka_bootstrap: str, unique_name: str, producer: AIOKafkaProducer
) -> None:
    topic = f"requests-{unique_name}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(name=topic, partitions=1)])
    for i in range(10):
        await producer.send_and_wait(topic, b"m%d" % i, partition=0)
    tp = TopicPartition(topic, 0)

    first = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=unique_name, **GROUP_SETTINGS)
    await first.start()
    try:
        assert await first.committed(tp) is None
        await first.commit({tp: 4})
    finally:
        await first.stop()

    second = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=unique_name, **GROUP_SETTINGS
    )
    await second.start()
    try:
        assert await second.committed(tp) == 4
        async with asyncio.timeout(10):
            record = await second.getone(tp)
    finally:
        await second.stop()
    assert (record.offset, record.value) == (4, b"m4")


async def test_headers_round_trip_in_order_with_duplicates(
    kafka_bootstrap: str, unique_name: str, producer: AIOKafkaProducer
) -> None:
    topic = f"tasks-{unique_name}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(name=topic, partitions=1)])
    headers = [
        ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("empty", b""),
        ("attempt", b"1"),
        ("attempt", b"2"),
    ]
    sent = await producer.send_and_wait(topic, b"task", partition=0, headers=headers)
    record = await read_one(kafka_bootstrap, TopicPartition(topic, 0), sent.offset)
    assert list(record.headers) == headers


async def test_explicit_partition_send_lands_on_that_partition(
    kafka_bootstrap: str, unique_name: str, producer: AIOKafkaProducer
) -> None:
    topic = f"results-{unique_name}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(name=topic, partitions=4)])
    for partition in (3, 0, 2, 1):
        sent = await producer.send_and_wait(topic, b"p%d" % partition, partition=partition)
        assert sent.partition == partition
        record = await read_one(kafka_bootstrap, TopicPartition(topic, partition), sent.offset)
        assert record.value == b"p%d" % partition


async def test_keyed_send_uses_the_java_murmur2_partitioner(
    kafka_bootstrap: str, unique_name: str, producer: AIOKafkaProducer
) -> None:
    topic = f"requests-{unique_name}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(name=topic, partitions=4)])
    for key in (b"C042", b"r-1", b"customer-7", b"x"):
        sent = await producer.send_and_wait(topic, b"v", key=key)
        assert sent.partition == (murmur2(key) & 0x7FFFFFFF) % 4


async def test_new_group_with_earliest_reset_reads_existing_records(
    kafka_bootstrap: str, unique_name: str, producer: AIOKafkaProducer
) -> None:
    topic = f"profiles-{unique_name}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(name=topic, partitions=1)])
    for i in range(3):
        await producer.send_and_wait(topic, b"r%d" % i, partition=0)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=unique_name, **GROUP_SETTINGS
    )
    await consumer.start()
    try:
        async with asyncio.timeout(10):
            values = [(await consumer.getone()).value for _ in range(3)]
    finally:
        await consumer.stop()
    assert values == [b"r0", b"r1", b"r2"]
