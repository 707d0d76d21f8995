"""graphfetch's own CPU per customer360 request, on both runtimes, without a broker.

Run: ``PYTHONPATH=. .venv/bin/python tests/bench_engine_cpu.py [--requests N] [--rounds R]``.
Not a test (pytest does not collect it). customer360 on the null connector, every source
sleeping 1 us (no idle time), measured in CPU time (``time.process_time``), two ways:

- ``state``: the planner's state machine alone, as both runtimes drive it: plan, start, apply
  each node's outcome (canned: what the null connector answers), and the profile as JSON;
- ``engine``: the in-process engine (:class:`streams.engine.inprocess.InProcessEngine`),
  one request at a time;
- ``agents``: a worker's three agents (planner, connector, aggregator) on an in-memory broker:
  what they send is handed to the agent consuming its topic, encoded and decoded as on Kafka,
  so the figure is the agents' own work per request with none of the Kafka client's.
  ``agents-1`` runs one request at a time, ``agents-32`` keeps 32 in flight (batches, as
  under load).

Each round measures every mode once, in turn; the figure is CPU microseconds per request.
Compare two checkouts by alternating them (``PYTHONPATH`` at each) on an otherwise quiet
machine: the ratio between them is what to read, not the absolute figure.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import yaml
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from devkit.bench.workloads import (
    Workload,
    customer360_on_null,
    load_workload_pipelines,
    low_credit_customers,
    write_configs,
)
from planner import Outcome, Pipeline, RequestState, plan_request
from streams.engine.adaptive.fetcher import AdaptiveFetcher
from streams.engine.inprocess import InProcessEngine
from streams.engine.sources import SourcePool
from streams.heap import freeze_startup_heap
from streams.liveconfig.store import PipelineStore
from streams.runtime.agents.agent import Agent, AgentContext
from streams.runtime.agents.aggregator_agent import AggregatorAgent
from streams.runtime.agents.connector_agent import ConnectorAgent
from streams.runtime.agents.planner_agent import PlannerAgent
from streams.settings import Settings

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
OUTPUT_TOPIC = "bench.profiles"
PARTITIONS = 8
WARMUP = 100


def workload() -> Workload:
    document: dict[str, Any] = yaml.safe_load((CONFIGS / "customer360.yaml").read_text(encoding="utf-8"))
    sleeping = dict.fromkeys(document["sources"], 0.001)
    chosen = customer360_on_null(document, name="customer360-null-awake", sleep_ms=sleeping)
    defaults = {**chosen.document["defaults"], "timeout_ms": 1_000}
    return dataclasses.replace(chosen, document={**chosen.document, "defaults": defaults})


class MemoryBroker:
    """An ``AIOKafkaProducer`` stand-in: every record sent is acknowledged at once and kept for the
    agent that consumes its topic."""

    def __init__(self) -> None:
        self.pending: dict[str, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
        self._offsets: dict[tuple[str, int], int] = defaultdict(int)
        self._acked: asyncio.Future[None] | None = None

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> asyncio.Future[None]:
        chosen = partition if partition is not None else hash(key) % PARTITIONS
        offset = self._offsets[(topic, chosen)]
        self._offsets[(topic, chosen)] = offset + 1
        self.pending[topic].append(
            ConsumerRecord(topic, chosen, offset, 0, 0, key, value, None, 0, len(value), list(headers))
        )
        if self._acked is None:
            self._acked = asyncio.get_running_loop().create_future()
            self._acked.set_result(None)
        return self._acked

    def take(self, topic: str) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        records = self.pending.pop(topic, [])
        batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
        for record in records:
            batch[TopicPartition(record.topic, record.partition)].append(record)
        return batch


class Worker:
    """A worker's three agents on a :class:`MemoryBroker`, driven until every request is answered."""

    def __init__(self, pipeline: Pipeline, sources: SourcePool, adaptive: AdaptiveFetcher) -> None:
        self.broker = MemoryBroker()
        settings = Settings()
        self.settings = settings
        ctx = AgentContext(
            settings=settings,
            producer=self.broker,
            store=PipelineStore({pipeline.name: pipeline}),
            sources=sources,
            adaptive=adaptive,
        )
        connector = ConnectorAgent(ctx, connectors=["null"])
        self.agents: list[tuple[str, Agent]] = [
            (settings.requests_topic, PlannerAgent(ctx)),
            (settings.results_topic, AggregatorAgent(ctx)),
            (settings.tasks_topic("null"), connector),
        ]
        self.pipeline = pipeline.name
        self.answered = 0
        self._sent = 0

    def request(self, key: dict[str, str]) -> None:
        """Put a request on the requests topic (each with an id of its own: a repeated one is a
        duplicate, which the aggregator does not answer twice)."""
        number = self._sent
        self._sent += 1
        value = json.dumps(
            {"request_id": f"r-{number}", "pipeline": self.pipeline, "keys": key, "deadline_ms": 10_000}
        ).encode()
        topic = self.settings.requests_topic
        self.broker.pending[topic].append(
            ConsumerRecord(topic, 0, number, 0, 0, None, value, None, 0, len(value), [])
        )

    async def step(self) -> None:
        """Hand each topic's waiting records to its agent; when none wait, let spawned work run."""
        moved = False
        for topic, agent in self.agents:
            batch = self.broker.take(topic)
            if batch:
                moved = True
                await agent.handle(batch)
        profiles = self.broker.pending.pop(OUTPUT_TOPIC, [])
        for record in profiles:
            if json.loads(record.value or b"")["status"] != "complete":
                raise RuntimeError("the benchmark request came back incomplete")
        self.answered += len(profiles)
        if not moved:
            jobs = {job for _, agent in self.agents for job in agent.jobs}
            if jobs:
                await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(0)


async def cpu_us(run: Callable[[int], Coroutine[Any, Any, None]], requests: int) -> float:
    """CPU microseconds per request of ``run(count)`` after a warm-up."""
    await run(WARMUP)
    before = time.process_time()
    await run(requests)
    return (time.process_time() - before) * 1e6 / requests


async def measure(requests: int, rounds: int, only: list[str]) -> None:
    chosen = workload()
    with tempfile.TemporaryDirectory() as folder:
        write_configs(Path(folder), [chosen], output_topic=OUTPUT_TOPIC)
        pipeline = load_workload_pipelines(Path(folder), env=dict(os.environ))[chosen.name]
    customers = [chosen.keys(c) for c in low_credit_customers(50)]
    figures: dict[str, list[float]] = defaultdict(list)
    async with InProcessEngine() as engine:
        worker = Worker(pipeline, engine.sources, engine.adaptive)
        freeze_startup_heap()  # as a worker and the bench do once started

        async def in_process(count: int) -> None:
            for i in range(count):
                emission = await engine.execute(
                    pipeline, keys=customers[i % len(customers)], deadline_ms=10_000.0, request_id=f"e-{i}"
                )
                if emission.profile.status != "complete":
                    raise RuntimeError("the benchmark request came back incomplete")

        def on_agents(window: int) -> Callable[[int], Coroutine[Any, Any, None]]:
            async def run(count: int) -> None:
                worker.answered = 0
                sent = 0
                while worker.answered < count:
                    while sent < count and sent - worker.answered < window:
                        worker.request(customers[sent % len(customers)])
                        sent += 1
                    await worker.step()

            return run

        async def state_machine(count: int) -> None:
            for i in range(count):
                plan = plan_request(pipeline, keys=customers[i % len(customers)])
                now = time.time() * 1000.0
                state = RequestState(plan, request_id=f"s-{i}", received_at_ms=now, deadline_ms=10_000.0)
                step = state.start(now)
                ready = list(step.tasks)
                while ready:
                    task = ready.pop()
                    outcome = Outcome(node=task.node, value=task.request["value"], fetched_at_ms=now)
                    step = state.apply(outcome, now)
                    ready.extend(step.tasks)
                if step.emission is None or step.emission.profile.status != "complete":
                    raise RuntimeError("the benchmark request came back incomplete")
                step.emission.profile.model_dump_json()

        modes = {
            "state": state_machine,
            "engine": in_process,
            "agents-1": on_agents(1),
            "agents-32": on_agents(32),
        }
        for _ in range(rounds):
            for name in only:
                figures[name].append(await cpu_us(modes[name], requests))
    for name, values in figures.items():
        shown = " ".join(f"{v:6.0f}" for v in values)
        print(f"{name:10s} CPU us/request: median {statistics.median(values):6.0f}   rounds: {shown}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="measured requests per mode and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every mode (default 3)")
    parser.add_argument(
        "--modes",
        default="state,engine,agents-1,agents-32",
        help="modes to measure, comma-separated (default all)",
    )
    arguments = parser.parse_args()
    asyncio.run(measure(arguments.requests, arguments.rounds, arguments.modes.split(",")))
