"""What one Kafka round trip and one record cost a client process on this machine: aiokafka beside librdkafka.

Run: ``python tests/bench_kafka_client.py [--bootstrap HOST:PORT] [--requests N] [--rounds R]``.
Not a test (pytest does not collect it). Without ``--bootstrap`` it starts a local Apache
Kafka (``scripts/kafka/fetch`` must have run). Figures, each the best of ``--rounds``:

- **one produce at a time**: ``send_and_wait`` (aiokafka on uvloop, as workers run) and
  ``produce`` + ``flush`` (confluent-kafka, librdkafka): CPU of this process (all its
  threads) and wall time per acknowledged request. A worker's hop at low load is such a
  round trip, plus a fetch;
- **records in batches of 20**: the same, 20 records sent and then all awaited, per record:
  what a record costs once round trips are shared;
- **one hop after an idle gap**: graphfetch's producer and consumer, one record at a time, the
  process idle 0 to 30 ms before each: the acknowledgement and the hop (produce until the
  consumer has it), at p50. A level of a graph whose upstreams take milliseconds pays two such
  hops after idle;
- **ping-pong**: a 100-byte TCP round trip between two processes, on one CPU and across two:
  what waking a process on the other CPU costs here (a virtual machine's wake-ups are dear).

CPU is ``time.process_time`` of this process: compare figures of one run, not across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator

import uvloop
from aiokafka import AIOKafkaProducer
from confluent_kafka import Producer

from devkit.bench.hops import hop_latencies
from devkit.bench.stats import percentile
from devkit.brokers import KafkaBroker
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.settings import Settings

VALUE = b"x" * 300
BATCH = 20
GAPS_MS = (0.0, 1.0, 3.0, 10.0, 30.0)


def _timed(work: Callable[[], None], count: int) -> tuple[float, float]:
    """(CPU us, wall us) per unit of ``work``, which does ``count`` units."""
    cpu, wall = time.process_time(), time.monotonic()
    work()
    return (time.process_time() - cpu) / count * 1e6, (time.monotonic() - wall) / count * 1e6


def aiokafka_figures(bootstrap: str, topic: str, requests: int) -> tuple[tuple[float, float], float]:
    """(one produce at a time: CPU us, wall us), CPU us per record in batches."""

    async def run() -> tuple[tuple[float, float], float]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, VALUE, partition=0)
            cpu, wall = time.process_time(), time.monotonic()
            for _ in range(requests):
                await producer.send_and_wait(topic, VALUE, partition=0)
            one = (
                (time.process_time() - cpu) / requests * 1e6,
                (time.monotonic() - wall) / requests * 1e6,
            )
            cpu = time.process_time()
            for _ in range(requests // BATCH):
                acks = [await producer.send(topic, VALUE, partition=0) for _ in range(BATCH)]
                await asyncio.gather(*acks)
            batched = (time.process_time() - cpu) / (requests // BATCH * BATCH) * 1e6
            return one, batched
        finally:
            await producer.stop()

    return uvloop.run(run())


def librdkafka_figures(bootstrap: str, topic: str, requests: int) -> tuple[tuple[float, float], float]:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    producer.produce(topic, VALUE, partition=0)
    producer.flush()

    def one_at_a_time() -> None:
        for _ in range(requests):
            producer.produce(topic, VALUE, partition=0)
            producer.flush()

    def batched() -> None:
        for _ in range(requests // BATCH):
            for _ in range(BATCH):
                producer.produce(topic, VALUE, partition=0)
            producer.flush()

    one = _timed(one_at_a_time, requests)
    per_record, _ = _timed(batched, requests // BATCH * BATCH)
    return one, per_record


def hops_after_gaps(bootstrap: str, topic: str, messages: int) -> dict[float, tuple[float, float]]:
    """Per idle gap (ms) before each record: (produce ack p50, hop p50) in ms, graphfetch's clients."""

    async def run() -> dict[float, tuple[float, float]]:
        settings = Settings(bootstrap=bootstrap)
        figures = {}
        for gap_ms in GAPS_MS:
            hops, acks = await hop_latencies(
                settings,
                topic=f"{topic}-after-{gap_ms:g}ms",
                wait_ms=settings.fetch_max_wait_ms,
                messages=messages,
                gap_s=functools.partial(float, gap_ms / 1000),
            )
            figures[gap_ms] = (percentile(acks, 0.5), percentile(hops, 0.5))
        return figures

    return uvloop.run(run())


def ping_pong(cpus: tuple[int, int], rounds: int = 5000) -> float:
    """Wall us per 100-byte TCP round trip between this process (on ``cpus[0]``) and a child (``cpus[1]``)."""
    server = socket.create_server(("127.0.0.1", 0))
    pid = os.fork()
    if pid == 0:  # the echoing child
        os.sched_setaffinity(0, {cpus[1]})
        with socket.create_connection(server.getsockname()) as peer:
            while data := peer.recv(200):
                peer.sendall(data)
        os._exit(0)
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpus[0]})
    try:
        conn, _ = server.accept()
        with conn:
            started = time.monotonic()
            for _ in range(rounds):
                conn.sendall(b"x" * 100)
                conn.recv(200)
            return (time.monotonic() - started) / rounds * 1e6
    finally:
        os.sched_setaffinity(0, before)
        os.waitpid(pid, 0)
        server.close()


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    if bootstrap is not None:
        yield bootstrap
        return
    with KafkaBroker() as local:
        yield local.bootstrap


def main(bootstrap: str | None, requests: int, rounds: int) -> None:
    with broker(bootstrap) as servers:
        topic = f"bench-kafka-client-{uuid.uuid4().hex[:8]}"
        asyncio.run(ensure_topics(servers, [TopicSpec(name=topic, partitions=1, replication_factor=1)]))
        clients = {"aiokafka": aiokafka_figures, "confluent-kafka": librdkafka_figures}
        print(f"{servers}: {requests} requests a round, best of {rounds} rounds, CPU of this process")
        for name, figures in clients.items():
            results = [figures(servers, topic, requests) for _ in range(rounds)]
            (cpu, wall), per_record = min(r[0] for r in results), min(r[1] for r in results)
            print(
                f"  {name:16} one produce at a time: {cpu:5.0f} us CPU, {wall:5.0f} us wall; "
                f"in batches of {BATCH}: {per_record:5.1f} us CPU a record"
            )
        for gap_ms, (ack, hop) in hops_after_gaps(servers, topic, min(requests, 200)).items():
            print(f"  one hop after {gap_ms:4g} ms idle: produce ack p50 {ack:.2f} ms, hop p50 {hop:.2f} ms")
    if len(os.sched_getaffinity(0)) >= 2:
        same, across = ping_pong((0, 0)), ping_pong((0, 1))
        print(f"  TCP ping-pong between two processes: {same:.0f} us on one CPU, {across:.0f} us across two")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="a running broker (default: start a local Apache Kafka)")
    parser.add_argument("--requests", type=int, default=2000, help="requests a round (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is reported (default 3)")
    args = parser.parse_args()
    main(args.bootstrap, args.requests, args.rounds)
