"""A worker restarted with its stable id takes its partitions back without rebalancing the others.

Two in-process workers with every role, ``a`` and ``b``, share the consumer
groups of a deployment on an Apache Kafka broker of this test's own. ``a`` is
stopped and started again with the same ``GRAPHFETCH_WORKER_ID``. As static
members (KIP-345, ``GRAPHFETCH_STATIC_MEMBERSHIP``, the default when the id is
set), the restarted ``a`` is given exactly the partitions it had, and ``b``
never has a partition revoked. As dynamic members (the contrast that shows the
check can fail) ``b`` is rebalanced when ``a`` leaves and again when it comes
back. In both, requests sent after the restart are all answered.

The session timeout is 30 s so that the restart comes within it on a loaded
machine: the subject is the protocol, not the restart's speed. Tansu accepts a
``group.instance.id`` but rebalances anyway (measured 2026-12-05), so the test
runs on Apache Kafka only.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from devkit.brokers import KafkaBroker
from devkit.brokers.apache_kafka import kafka_available
from planner import Profile
from streams.kafka.topicreader import TopicCollector
from streams.runtime.agents import Agent
from streams.runtime.worker import ROLES, Worker
from streams.settings import Settings
from tests.support.clients import produce_requests
from tests.support.waiting import until
from tests.support.workers import pipeline_folder, start

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not kafka_available(), reason="static membership is Apache Kafka's (scripts/kafka)"),
]

PARTITIONS = 4
WAIT_S = 90.0
REQUESTS = 20
NAME = "static-membership"
OUTPUT = f"{NAME}.profiles"
PIPELINE = {
    "pipeline": NAME,
    "output": {"topic": OUTPUT, "key": "keys.id"},
    # Deadlines that a loaded machine cannot reach: a request answered late is still answered whole.
    "defaults": {"timeout_ms": 30_000, "deadline_ms": 60_000},
    "sources": {"null": {"connector": "null"}},
    "nodes": {"only": {"source": "null", "request": {"value": {"id": "{keys.id}"}}}},
    "fields": {"only": "only.id"},
}


def _assignments(worker: Worker) -> dict[str, frozenset[TopicPartition]]:
    return {
        agent.role: frozenset(agent.consumer.assignment() if agent.consumer is not None else ())
        for agent in worker.agents
    }


def _settled(workers: Sequence[Worker]) -> bool:
    """Every partition of every group assigned, and every agent of every worker given some."""
    for role in ROLES:
        agents = [agent for worker in workers for agent in worker.agents if agent.role == role]
        owned = [agent.consumer.assignment() if agent.consumer is not None else set() for agent in agents]
        if not all(owned) or sum(len(o) for o in owned) != PARTITIONS * len(agents[0].topics()):
            return False
    return True


def _count_revocations(worker: Worker, counts: Counter[str]) -> None:
    """Count, per role, the partitions ``worker``'s agents hand over from now on."""
    for agent in worker.agents:
        original = agent.revoked

        async def revoked(
            partitions: list[TopicPartition], agent: Agent = agent, original: Any = original
        ) -> None:
            counts[agent.role] += len(partitions)
            await original(partitions)

        agent.revoked = revoked  # type: ignore[method-assign]


@pytest.mark.parametrize("static", [True, False], ids=["static", "dynamic"])
async def test_a_restarted_worker_takes_its_partitions_back_without_rebalancing_the_others(
    tmp_path: Path, static: bool
) -> None:
    folder, pipelines = pipeline_folder(tmp_path, PIPELINE)
    jobs: list[asyncio.Future[None]] = []
    workers: list[Worker] = []
    async with KafkaBroker(log_path=tmp_path / "kafka.log") as broker:
        settings = Settings(
            bootstrap=broker.bootstrap,
            configs=folder,
            partitions=PARTITIONS,
            watch_configs=False,
            session_timeout_ms=30_000,
            static_membership=static,
        ).isolated(f"static-membership-{'static' if static else 'dynamic'}")
        profiles = TopicCollector(settings=settings, topic=OUTPUT, partitions=PARTITIONS)
        try:
            a, b = (Worker(settings, pipelines=pipelines, worker_id=name) for name in ("a", "b"))
            workers += [a, b]
            jobs += await asyncio.gather(start(a, timeout_s=WAIT_S), start(b, timeout_s=WAIT_S))
            await until(lambda: _settled([a, b]), timeout_s=WAIT_S, what="both workers given partitions")
            before = _assignments(a)
            revoked_from_b: Counter[str] = Counter()
            _count_revocations(b, revoked_from_b)

            a.stop()
            await asyncio.wait_for(jobs[0], WAIT_S)
            again = Worker(settings, pipelines=pipelines, worker_id="a")
            workers.append(again)
            jobs.append(await start(again, timeout_s=WAIT_S))
            await until(
                lambda: _settled([again, b]), timeout_s=WAIT_S, what="the restarted worker given partitions"
            )

            await profiles.start()
            ids = await produce_requests(settings, NAME, {"id": "r{i}"}, count=REQUESTS)
            assert await profiles.wait_for(ids, timeout_s=WAIT_S), (
                "requests after the restart went unanswered"
            )
            for request_id in ids:
                profile = Profile.model_validate(profiles.by_request_id[request_id][0].value)
                assert profile.status == "complete", profile
            print(
                f"\n{'static' if static else 'dynamic'}: partitions revoked from b per role: {dict(revoked_from_b)}"
            )
            if static:
                assert revoked_from_b == Counter(), f"b was rebalanced: {dict(revoked_from_b)}"
                assert _assignments(again) == before
            else:
                assert sum(revoked_from_b.values()) > 0, (
                    "dynamic members were not rebalanced: the check is blind"
                )
        finally:
            for worker in workers:
                worker.stop()
            await asyncio.gather(*jobs, return_exceptions=True)
            await profiles.stop()
