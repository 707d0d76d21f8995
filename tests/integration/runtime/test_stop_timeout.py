"""A worker asked to stop while its broker does not answer stops anyway, at its stop timeout.

One in-process worker with every role runs on a broker of this test's own
(the machine's default local broker, ``auto``) with ``GRAPHFETCH_STOP_TIMEOUT_MS``
2 s. The broker is frozen (SIGSTOP) and the worker is asked to stop: leaving a
consumer group and flushing the producer each wait for an answer that does not
come (aiokafka's own timeouts are 30 s and more). The worker must still end,
with no error, and its log must name each agent it abandoned and what that
agent was doing. What it left going in the background must end once the
broker is resumed, leaving no consumer open.

The wait for the worker's end is 60 s, thirty times the stop timeout: it bounds
a hang, it asserts no speed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from devkit.brokers import local_broker
from streams.runtime.worker import ROLES, Worker
from streams.settings import Settings
from tests.support.waiting import until
from tests.support.workers import pipeline_folder, start

pytestmark = [pytest.mark.integration, pytest.mark.slow]

END_WAIT_S = 60.0

PIPELINE = {
    "pipeline": "stop-timeout",
    "output": {"topic": "stop-timeout.profiles", "key": "keys.id"},
    "sources": {"null": {"connector": "null"}},
    "nodes": {"only": {"source": "null", "request": {"value": {"id": "{keys.id}"}}}},
    "fields": {"only": "only.id"},
}


async def test_a_worker_whose_broker_is_frozen_stops_at_its_stop_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with local_broker("auto", log_path=tmp_path / "broker.log") as broker:
        folder, pipelines = pipeline_folder(tmp_path, PIPELINE)
        settings = Settings(
            bootstrap=broker.bootstrap,
            configs=folder,
            partitions=2,
            watch_configs=False,
            stop_timeout_ms=2_000,
        ).isolated("stop-timeout")
        worker = Worker(settings, pipelines=pipelines, roles=ROLES)
        job = await start(worker, timeout_s=END_WAIT_S)
        # Every agent in its group: the stop then has a group to leave.
        await until(
            lambda: all(a.consumer is not None and a.consumer.assignment() for a in worker.agents),
            timeout_s=END_WAIT_S,
            what="partitions assigned to every agent",
        )

        broker.pause()
        try:
            with caplog.at_level(logging.ERROR, logger="streams.runtime.worker"):
                worker.stop()
                done, _ = await asyncio.wait({job}, timeout=END_WAIT_S)
        finally:
            broker.resume()
        assert job in done, (
            f"the worker did not stop within {END_WAIT_S:g} s (stop timeout {settings.stop_timeout_ms} ms)"
        )
        job.result()  # no error: abandoning work at the stop timeout is a clean stop

        # What the stop left going in the background ends once the broker answers again, its
        # consumers closed (an open one would warn when collected, in some later test).
        def open_consumers() -> list[AIOKafkaConsumer]:
            gc.collect()
            return [o for o in gc.get_objects() if isinstance(o, AIOKafkaConsumer) and o._closed is False]

        await until(lambda: not open_consumers(), timeout_s=END_WAIT_S, what="every consumer closed")

        abandoned = [r.getMessage() for r in caplog.records if "stop timeout" in r.getMessage()]
        print("\n" + "\n".join(abandoned))
        assert any("agent (" in line for line in abandoned), (
            f"no log line names an abandoned agent and its stage: {abandoned}"
        )
