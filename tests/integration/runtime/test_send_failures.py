"""A worker whose sends keep failing stops, and its successor loses nothing and stalls no commit.

One in-process worker with every role runs on a broker of this test's own
(the machine's default local broker, ``auto``), with a short send budget
(``GRAPHFETCH_SEND_TIMEOUT_MS`` 1.5 s, ``GRAPHFETCH_SEND_ATTEMPTS`` 2). Its
pipeline's two levels of null-connector fetches sleep 300 ms each, so sends are
always about to happen. With requests in flight the broker is frozen
(SIGSTOP): a send waits for its timeout, is tried again, fails again, and the
agent stops the worker with :class:`~streams.runtime.agents.delivery.SendFailedError`
instead of leaving the request live and its partition's commit stalled
(streams/runtime/agents/delivery.py). The broker is resumed, a successor worker
starts on the same groups, and then:

- every request sent got a profile, each with every field (nothing lost);
- every consumer group's committed offsets reach the end of its topics once
  the successor has drained (no commit stalled behind failed work).

No timing is asserted; the deadlines bound each wait generously.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from devkit.brokers import local_broker
from planner import Profile
from streams.kafka.factory import make_producer
from streams.kafka.topicreader import TopicCollector
from streams.runtime.agents.delivery import SendFailedError
from streams.runtime.worker import ROLES, Worker
from streams.settings import Settings
from tests.support.waiting import until
from tests.support.workers import connector_agent, pipeline_folder, running_worker, start

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PIPELINE = "send-failures"
PARTITIONS = 2
FETCH_MS = 300
FIELDS = ["first", "second"]
WAIT_S = 90.0  # each wait: a worker's start, a frozen broker's timeouts, a successor's replay


def _pipeline(output: str) -> dict[str, Any]:
    return {
        "pipeline": PIPELINE,
        "output": {"topic": output, "key": "keys.id"},
        "defaults": {"timeout_ms": 10_000, "retries": 0, "deadline_ms": 120_000},
        "sources": {"null": {"connector": "null", "sleep_ms": FETCH_MS}},
        "nodes": {
            "first": {"source": "null", "request": {"value": {"id": "{keys.id}"}}},
            "second": {"source": "null", "request": {"value": {"after": "{first.id}"}}},
        },
        "fields": {"first": "first.id", "second": "second.after"},
    }


async def _send(settings: Settings, ids: Sequence[str]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for request_id in ids:
            payload = {"request_id": request_id, "pipeline": PIPELINE, "keys": {"id": request_id}}
            await producer.send_and_wait(settings.requests_topic, json.dumps(payload).encode())
    finally:
        await producer.stop()


async def _lag(settings: Settings) -> dict[str, int]:
    """Per consumer group of the deployment, records past its committed offsets (its lag)."""
    topics = {
        "planner": [settings.requests_topic],
        "connector": [settings.tasks_topic("null")],
        "aggregator": [settings.results_topic],
    }
    lag = {}
    for role, names in topics.items():
        tps = [TopicPartition(t, p) for t in names for p in range(PARTITIONS)]
        # A consumer that names the group but never joins it: it reads the group's offsets only.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            group_id=f"{settings.group_prefix}.{role}",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            ends = await consumer.end_offsets(tps)
            lag[role] = 0
            for tp in tps:
                # max: Tansu's end offsets can trail its log (docs/tansu-probe.md); Kafka's are exact.
                lag[role] += max(0, ends[tp] - (await consumer.committed(tp) or 0))
        finally:
            await consumer.stop()
    return lag


async def test_a_send_that_keeps_failing_stops_the_worker_and_its_successor_loses_nothing(
    tmp_path: Path,
) -> None:
    async with AsyncExitStack() as stack:
        # Stopped at the end, resumed first if a failure left it frozen (ChildBroker.stop).
        broker = await stack.enter_async_context(local_broker("auto", log_path=tmp_path / "broker.log"))
        output = "send-failures.profiles"
        folder, pipelines = pipeline_folder(tmp_path, _pipeline(output))
        settings = Settings(
            bootstrap=broker.bootstrap,
            configs=folder,
            partitions=PARTITIONS,
            watch_configs=False,
            send_timeout_ms=1_500,
            send_attempts=2,
        ).isolated("send-failures")
        profiles = TopicCollector(settings=settings, topic=output, partitions=PARTITIONS)

        # The first worker serves, then its sends fail while the broker is frozen.
        first = Worker(settings, pipelines=pipelines, roles=ROLES, worker_id="send-failures")
        job = await start(first, timeout_s=WAIT_S)
        await profiles.start()
        stack.push_async_callback(profiles.stop)
        before = [f"before-{i}" for i in range(5)]
        await _send(settings, before)
        assert await profiles.wait_for(before, timeout_s=WAIT_S), "the first worker served nothing"

        during = [f"during-{i}" for i in range(10)]
        await _send(settings, during)
        fetching = connector_agent(first)
        await until(lambda: len(fetching.jobs) > 0, timeout_s=WAIT_S, what="fetches in flight")
        broker.pause()
        try:
            await until(
                lambda: any(agent.failure is not None for agent in first.agents),
                timeout_s=WAIT_S,
                what="an agent whose send failed on the frozen broker",
            )
        finally:
            broker.resume()
        with pytest.raises(SendFailedError):
            await asyncio.wait_for(job, WAIT_S)
        failed = [agent.role for agent in first.agents if agent.failure is not None]
        print(f"\nsend failed in {failed}; the worker stopped")

        # A successor on the same groups replays what was not committed.
        after = [f"after-{i}" for i in range(5)]
        async with running_worker(settings, pipelines=pipelines):
            await _send(settings, after)
            every = [*before, *during, *after]
            if not await profiles.wait_for(every, timeout_s=WAIT_S):
                missing = [i for i in every if i not in profiles.by_request_id]
                raise AssertionError(f"lost: no profile for {missing}")
            lag: dict[str, int] = {}

            async def refresh() -> None:
                lag.update(await _lag(settings))

            deadline = asyncio.get_running_loop().time() + WAIT_S
            await refresh()
            while any(lag.values()) and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.5)
                await refresh()
            assert not any(lag.values()), f"commits stalled behind the failed work: lag {lag}"

        for request_id in every:
            profile = Profile.model_validate(profiles.by_request_id[request_id][0].value)
            assert profile.status == "complete", profile
            assert profile.data == {"first": request_id, "second": request_id}, profile
        duplicated = {i: n for i, n in profiles.duplicates(every).items() if n > 1}
        print(f"{len(every)} requests, each answered; answered twice (allowed at least once): {duplicated}")
