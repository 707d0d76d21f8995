"""Measure the broker figures quoted in docs/tansu-probe.md (not a test; pytest skips it).

    .venv/bin/python tests/integration/broker/probe_tansu.py [latency|idle|groups|throughput]...
    .venv/bin/python tests/integration/broker/probe_tansu.py --bootstrap HOST:PORT latency

Without ``--bootstrap`` it starts a TansuBroker (Tansu). ``idle`` needs the local
broker (it reads the broker's CPU time from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from devkit.brokers import TansuBroker
from streams.kafka.topics import TopicSpec, ensure_topics

PAYLOAD = b'{"request_id":"r-000001","task":"orders","keys":{"customer_id":"C042"}}'


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def new_topic(bootstrap: str, partitions: int) -> str:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [TopicSpec(name=name, partitions=partitions)])
    return name


async def one_latency_run(bootstrap: str, *, fetch_wait: int, acks: Any, loop_style: str) -> None:
    """Send one record at a time and time it until the consumer's loop sees it."""
    topic = await new_topic(bootstrap, 1)
    tp = TopicPartition(topic, 0)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=acks)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=fetch_wait)
    await producer.start()
    await consumer.start()
    consumer.assign([tp])
    await consumer.seek_to_beginning(tp)
    waiting: dict[bytes, asyncio.Future[float]] = {}

    def arrived(value: bytes) -> None:
        future = waiting.pop(value, None)
        if future is not None:
            future.set_result(time.perf_counter())

    async def read() -> None:
        if loop_style == "getmany":
            while True:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        arrived(record.value)
        else:
            async for record in consumer:
                arrived(record.value)

    reader = asyncio.create_task(read())
    end_to_end: list[float] = []
    acked: list[float] = []
    for i in range(320):
        value = b"m%d" % i
        seen = waiting[value] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        await producer.send_and_wait(topic, value)
        ack_at = time.perf_counter()
        seen_at = await asyncio.wait_for(seen, 5)
        if i >= 20:  # warm-up
            end_to_end.append((seen_at - started) * 1000)
            acked.append((ack_at - started) * 1000)
        await asyncio.sleep(0.002 * (i % 5))  # do not phase-lock with the fetch cycle
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    await consumer.stop()
    await producer.stop()
    print(
        f"fetch_max_wait_ms={fetch_wait:<3} acks={acks!s:<3} {loop_style:8} "
        f"end-to-end p50 {percentile(end_to_end, 50):5.2f} p99 {percentile(end_to_end, 99):5.2f} "
        f"max {max(end_to_end):5.2f} ms | ack p50 {statistics.median(acked):4.2f} ms",
        flush=True,
    )


async def latency(bootstrap: str, _broker: TansuBroker | None) -> None:
    for fetch_wait in (1, 5, 10, 100):
        for acks in (1, "all"):
            for loop_style in ("getmany", "async-for"):
                await one_latency_run(bootstrap, fetch_wait=fetch_wait, acks=acks, loop_style=loop_style)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def idle(bootstrap: str, broker: TansuBroker | None) -> None:
    """CPU burnt by one idle consumer of 12 partitions, per fetch_max_wait_ms."""
    if broker is None:
        print("idle: needs the local broker (no --bootstrap)")
        return
    topics = [await new_topic(bootstrap, 4) for _ in range(3)]
    for fetch_wait in (0, 1, 5, 10, 100):
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=fetch_wait)
        await consumer.start()
        consumer.assign([TopicPartition(t, p) for t in topics for p in range(4)])
        await consumer.seek_to_beginning()
        broker_cpu, client_cpu, started = cpu_seconds(broker.pid), time.process_time(), time.monotonic()
        while time.monotonic() - started < 3:
            await consumer.getmany(timeout_ms=200)
        elapsed = time.monotonic() - started
        print(
            f"fetch_max_wait_ms={fetch_wait:<3} idle consumer: broker CPU "
            f"{100 * (cpu_seconds(broker.pid) - broker_cpu) / elapsed:3.0f}%, client CPU "
            f"{100 * (time.process_time() - client_cpu) / elapsed:3.0f}%",
            flush=True,
        )
        await consumer.stop()


async def throughput(bootstrap: str, _broker: TansuBroker | None) -> None:
    count = 50_000
    for linger, partitions in ((0, 4), (1, 4), (5, 4), (5, 1)):
        topic = await new_topic(bootstrap, partitions)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger)
        await producer.start()
        started = time.perf_counter()
        futures = [await producer.send(topic, PAYLOAD, key=b"k%d" % (i % 1000)) for i in range(count)]
        await asyncio.gather(*futures)
        produced = count / (time.perf_counter() - started)
        await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=5)
        await consumer.start()
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()
        started, seen = time.perf_counter(), 0
        while seen < count:
            seen += sum(map(len, (await consumer.getmany(timeout_ms=2000)).values()))
        consumed = count / (time.perf_counter() - started)
        await consumer.stop()
        print(
            f"linger_ms={linger} partitions={partitions}: produce {produced:8,.0f} msg/s, "
            f"consume {consumed:8,.0f} msg/s ({len(PAYLOAD)} B records)",
            flush=True,
        )


class Tracker(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, changed: asyncio.Condition) -> None:
        self.current: frozenset[TopicPartition] = frozenset()
        self.changed = changed

    async def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        async with self.changed:
            self.current = frozenset(assigned)
            self.changed.notify_all()

    async def owns(self, count: int) -> None:
        """Wait until this member's assignment has ``count`` partitions."""
        async with asyncio.timeout(120), self.changed:
            await self.changed.wait_for(lambda: len(self.current) == count)


def group_options(session: int, heartbeat: int) -> dict[str, Any]:
    return {
        "session_timeout_ms": session,
        "heartbeat_interval_ms": heartbeat,
        "enable_auto_commit": False,
        "fetch_max_wait_ms": 10,
        "partition_assignment_strategy": (RangePartitionAssignor,),
    }


async def groups(bootstrap: str, _broker: TansuBroker | None) -> None:
    """Join, leave and SIGKILL timings of a 2-member group on two 4-partition topics."""
    for session, heartbeat in ((10_000, 3_000), (6_000, 500), (3_000, 300), (1_000, 100)):
        group = f"probe-{uuid.uuid4().hex[:8]}"
        topics = [await new_topic(bootstrap, 4), await new_topic(bootstrap, 4)]
        changed = asyncio.Condition()
        tracker = Tracker(changed)
        member = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, **group_options(session, heartbeat)
        )
        member.subscribe(topics, listener=tracker)

        started = time.monotonic()
        await member.start()
        await tracker.owns(8)
        first = time.monotonic() - started

        other = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, **group_options(session, heartbeat)
        )
        other.subscribe(topics)
        started = time.monotonic()
        await other.start()
        await tracker.owns(4)
        second = time.monotonic() - started

        started = time.monotonic()
        await other.stop()
        await tracker.owns(8)
        left = time.monotonic() - started

        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--bootstrap", bootstrap, "member",
            group, ",".join(topics), str(session), str(heartbeat),
        )  # fmt: skip
        await tracker.owns(4)
        started = time.monotonic()
        child.kill()
        await child.wait()
        await tracker.owns(8)
        killed = time.monotonic() - started
        await member.stop()
        print(
            f"session_timeout_ms={session:<6} heartbeat_interval_ms={heartbeat:<5} "
            f"first member {first:5.2f} s, second joins {second:5.2f} s, "
            f"graceful leave {left:5.2f} s, SIGKILLed member's partitions move {killed:5.2f} s",
            flush=True,
        )


async def member(bootstrap: str, group: str, topics: str, session: str, heartbeat: str) -> None:
    """A group member in its own process, for the SIGKILL measurement."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, **group_options(int(session), int(heartbeat))
    )
    consumer.subscribe(topics.split(","))
    await consumer.start()
    while True:
        await consumer.getmany(timeout_ms=100)


PROBES = {"latency": latency, "idle": idle, "throughput": throughput, "groups": groups}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap")
    parser.add_argument("probes", nargs="*", default=list(PROBES))
    args = parser.parse_args()
    if args.probes and args.probes[0] == "member":
        await member(args.bootstrap, *args.probes[1:])
        return
    if args.bootstrap:
        for name in args.probes:
            await PROBES[name](args.bootstrap, None)
        return
    async with TansuBroker() as broker:
        for name in args.probes:
            print(f"== {name}", flush=True)
            await PROBES[name](broker.bootstrap, broker)


if __name__ == "__main__":
    asyncio.run(main())
