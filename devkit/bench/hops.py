"""What one Kafka hop costs: produce a record, until a waiting consumer has it.

Tansu holds a fetch until ``fetch_max_wait_ms`` (docs/spec.md#6-brokers-in-tests-and-development), so its
hop grows with that setting; Apache Kafka answers a fetch as soon as data
arrives. A hop is the produce round trip (the ack) plus the wait of the fetch
that is open when the record lands; the bench measures both, on each broker it
runs the Kafka runtimes on (docs/tansu-probe.md has the same model). Two hops at the runtimes'
fetch wait are the broker's floor for one dependency level (:meth:`HopProbe.level_floor_ms`),
shown beside the figures per level."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from devkit.bench.results import HopProbe
from devkit.bench.stats import percentile
from streams.kafka.factory import make_consumer, make_producer
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.settings import Settings

_WARMUP_MESSAGES = 3


async def _arrivals(consumer: AIOKafkaConsumer, seen: dict[int, float], changed: asyncio.Event) -> None:
    while True:
        batch = await consumer.getmany(timeout_ms=1000)
        now = time.perf_counter()
        for records in batch.values():
            for record in records:
                seen[int(record.value or b"0")] = now
        if batch:
            changed.set()


async def hop_latencies(
    settings: Settings, *, topic: str, wait_ms: int, messages: int, gap_s: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """(hop latencies, produce ack latencies) in milliseconds, of ``messages`` records sent one at a
    time by graphfetch's producer to its consumer (``wait_ms`` its fetch wait), ``gap_s()`` idle
    before each."""
    await ensure_topics(
        settings.bootstrap, [TopicSpec(name=topic, partitions=1)], **settings.kafka_security_options()
    )
    producer = make_producer(settings)
    consumer = make_consumer(settings, group_id=None, fetch_max_wait_ms=wait_ms)
    await producer.start()
    await consumer.start()
    seen: dict[int, float] = {}
    changed = asyncio.Event()
    reader: asyncio.Task[None] | None = None
    latencies: list[float] = []
    acks: list[float] = []
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        reader = asyncio.create_task(_arrivals(consumer, seen, changed))
        for i in range(_WARMUP_MESSAGES + messages):
            await asyncio.sleep(gap_s())
            sent = time.perf_counter()
            await (await producer.send(topic, str(i).encode()))
            acked = time.perf_counter()
            async with asyncio.timeout(10):
                while i not in seen:
                    changed.clear()
                    await changed.wait()
            if i >= _WARMUP_MESSAGES:
                latencies.append((seen[i] - sent) * 1000.0)
                acks.append((acked - sent) * 1000.0)
    finally:
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await consumer.stop()
        await producer.stop()
    return latencies, acks


async def probe_hops(
    settings: Settings, *, waits_ms: tuple[int, ...], messages: int, prefix: str, seed: int
) -> HopProbe:
    """Hops at each of ``waits_ms`` and at the runtimes' own fetch wait (``settings``)."""
    rng = random.Random(seed)
    waits = sorted({*waits_ms, settings.fetch_max_wait_ms})
    p50s: list[float] = []
    p99s: list[float] = []
    ack_p50s: list[float] = []
    for wait_ms in waits:
        latencies, acks = await hop_latencies(
            settings,
            topic=f"{prefix}.hop-{wait_ms}",
            wait_ms=wait_ms,
            messages=messages,
            # a random phase against the consumer's fetch cycle: the hop is measured on average
            gap_s=functools.partial(rng.uniform, 0.0, wait_ms / 1000.0),
        )
        p50s.append(percentile(latencies, 0.5))
        p99s.append(percentile(latencies, 0.99))
        ack_p50s.append(percentile(acks, 0.5))
    return HopProbe(
        fetch_max_wait_ms=waits,
        p50_ms=p50s,
        p99_ms=p99s,
        ack_p50_ms=ack_p50s,
        runtime_fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
