"""A real graphfetch deployment per test: demo upstreams, worker processes on the session's broker.

Both come from the harness ``graphfetch dev``, ``bench`` and ``chaos`` use (:mod:`devkit.deployment`):

* ``upstreams`` (per module): the demo services in a child process
  (:meth:`DemoUpstreams.child <devkit.deployment.upstreams.DemoUpstreams.child>`)
  on a free port, with a seeded SQLite warehouse and no added latency. ``set_faults``
  changes a service's knobs through ``PUT /_control/{service}``; every test starts and
  ends with healthy services.
* ``runtime`` (per test): a :class:`~devkit.deployment.local.LocalDeployment` on the
  session's broker with topics, groups and output topic unique to the test,
  a copy of ``configs/customer360.yaml`` publishing to that output topic
  (``write_pipeline`` patches its defaults or nodes), and ``graphfetch worker``
  processes with the roles asked (output in a log file each, whose tail goes
  into failure messages; ``await worker.stop()`` drains one for up to 30 s, the rest are
  SIGKILLed at teardown). ``await runtime.start(workers=n)`` returns once the
  workers created the topics and a probe request got its profile.
* :class:`TopicCollector`: a group-less consumer reading every partition of a
  topic from the beginning; tests wait on it (an ``asyncio.Condition``
  notified after every batch, never a sleep) for the records they expect,
  and count duplicates per request id. ``runtime.profiles`` and
  ``runtime.dead_letters`` collect the output topic and the DLQ.

Workers run the ``graphfetch`` console script beside this interpreter with
``OTEL_SDK_DISABLED=true`` (``runtime.tracing = True`` keeps the SDK, without
an exporter) and ``GRAPHFETCH_SESSION_TIMEOUT_MS=6000``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiokafka.structs import RecordMetadata

from devkit.deployment.child import Child
from devkit.deployment.local import LocalDeployment
from devkit.deployment.upstreams import DemoUpstreams
from streams.kafka.factory import make_producer
from streams.kafka.topicreader import Received, TopicCollector
from streams.settings import Settings

REPO = Path(__file__).resolve().parents[3]
PIPELINE_FILE = REPO / "configs" / "customer360.yaml"
PIPELINE = "customer360"
PARTITIONS = 4
CONNECTORS = ("http", "sql")
STARTUP_TIMEOUT_S = 60.0
LOG_TAIL_LINES = 40
WORKER_STOP_TIMEOUT_S = 30.0
"""How long ``await worker.stop()`` lets a worker drain before it is killed."""


# -- demo upstreams ------------------------------------------------------------------------------


class Upstreams(DemoUpstreams):
    """The harness's demo upstreams in a child process, with the fault knobs a test turns between awaits."""

    def set_faults(self, service: str, **knobs: float | bool) -> None:
        response = httpx.put(f"{self.url}/_control/{service}", json=knobs, timeout=5.0)
        assert response.status_code == 200, response.text

    def reset_faults(self) -> None:
        response = httpx.delete(f"{self.url}/_control", timeout=5.0)
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    """The demo services for this module, with the credit table in a SQLite file."""
    server = Upstreams.child(tmp_path_factory.mktemp("demo"))
    asyncio.run(server.start())
    try:
        yield server
    finally:
        asyncio.run(server.stop())


@pytest.fixture(autouse=True)
def _healthy_upstreams(upstreams: Upstreams) -> Iterator[None]:
    """Fault knobs a test sets never leak into the next test."""
    upstreams.reset_faults()
    yield
    upstreams.reset_faults()


# -- one deployment per test -----------------------------------------------------------------------


@dataclass(kw_only=True)
class Runtime:
    """graphfetch on the shared broker with this test's own topics, groups, configs and workers."""

    bootstrap: str
    name: str
    workdir: Path
    upstreams: Upstreams
    tracing: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    _collectors: list[TopicCollector] = field(default_factory=list)
    _profiles: TopicCollector | None = None
    _dead_letters: TopicCollector | None = None
    _deployment: LocalDeployment = field(init=False)

    def __post_init__(self) -> None:
        settings = Settings(
            bootstrap=self.bootstrap,
            configs=self.workdir / "configs",
            partitions=PARTITIONS,
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
        ).isolated(self.name)
        self._deployment = LocalDeployment(
            settings=settings,
            workdir=self.workdir,
            upstream_env=self.upstreams.env(),
            stop_timeout_s=WORKER_STOP_TIMEOUT_S,
        )

    @property
    def output_topic(self) -> str:
        return f"{self.name}.profiles"

    @property
    def settings(self) -> Settings:
        """The settings the workers run with, for this test's own clients."""
        return self._deployment.settings

    @property
    def workers(self) -> list[Child]:
        """Every worker process started, in order."""
        return self._deployment.workers.lives

    @property
    def profiles(self) -> TopicCollector:
        if self._profiles is None:
            raise RuntimeError("start() the runtime first")
        return self._profiles

    @property
    def dead_letters(self) -> TopicCollector:
        if self._dead_letters is None:
            raise RuntimeError("start() the runtime first")
        return self._dead_letters

    def write_pipeline(
        self,
        *,
        defaults: Mapping[str, Any] | None = None,
        nodes: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """customer360.yaml publishing to this test's topic; ``defaults`` and ``nodes`` patch settings."""
        config = yaml.safe_load(PIPELINE_FILE.read_text())
        config["output"]["topic"] = self.output_topic
        config["defaults"].update(defaults or {})
        for node, patch in (nodes or {}).items():
            config["nodes"][node].update(patch)
        folder = self.workdir / "configs"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PIPELINE_FILE.name).write_text(yaml.safe_dump(config, sort_keys=False))

    def start_worker(self, *, roles: Sequence[str] = ("planner", "connector", "aggregator")) -> Child:
        """Start one more ``graphfetch worker``; it joins the groups of those already running."""
        if not (self.workdir / "configs").exists():
            self.write_pipeline()
        name = f"worker-{len(self.workers) + 1}"
        return self._deployment.spawn(name, roles=roles, env=self.extra_env, tracing=self.tracing)

    def logs(self) -> str:
        """The tail of every worker's log, for assertion messages."""
        return self._deployment.workers.logs(LOG_TAIL_LINES)

    async def start(self, *, workers: int = 1) -> None:
        """Start ``workers`` workers (every role) and return once they serve a probe request."""
        for _ in range(workers):
            self.start_worker()
        await self.serving()

    async def serving(self) -> None:
        """Return once the workers started created the topics and answered a probe request."""
        s = self.settings
        topics = [s.requests_topic, s.results_topic, s.dlq_topic, self.output_topic]
        topics += [s.tasks_topic(c) for c in CONNECTORS]
        await self._deployment.wait_for_topics(topics, timeout_s=STARTUP_TIMEOUT_S)
        self._profiles = await self.collect(self.output_topic)
        self._dead_letters = await self.collect(s.dlq_topic)
        probe = f"probe-{uuid.uuid4().hex[:8]}"
        await self.send([{"request_id": probe, "pipeline": PIPELINE, "keys": {"customer_id": "C00001"}}])
        await self.wait_for_profiles([probe], timeout_s=STARTUP_TIMEOUT_S)

    async def collect(self, topic: str) -> TopicCollector:
        """A started collector of ``topic`` (stopped at teardown)."""
        collector = TopicCollector(settings=self.settings, topic=topic, partitions=PARTITIONS)
        await collector.start()
        self._collectors.append(collector)
        return collector

    async def send(self, payloads: Sequence[Mapping[str, Any]]) -> None:
        """Produce request events (key: request id) and wait for the broker's acks."""
        await self.send_raw([(str(p["request_id"]).encode(), json.dumps(p).encode()) for p in payloads])

    async def send_raw(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[RecordMetadata]:
        """Produce ``(key, value)`` records to the requests topic as they are; their coordinates."""
        producer = make_producer(self.settings)
        await producer.start()
        try:
            acks = [
                await producer.send(self.settings.requests_topic, value, key=key) for key, value in records
            ]
            return list(await asyncio.gather(*acks))
        finally:
            await producer.stop()

    async def wait_for_profiles(self, ids: Sequence[str], *, timeout_s: float) -> dict[str, Received]:
        """The first profile of each request id; fails naming what is missing, with the worker logs."""
        wanted = list(ids)
        if not await self.profiles.wait_for(wanted, timeout_s=timeout_s):
            missing = [i for i in wanted if i not in self.profiles.by_request_id]
            pytest.fail(
                f"{len(missing)} of {len(wanted)} profiles missing after {timeout_s:g} s "
                f"(first: {missing[:5]}):\n{self.logs()}"
            )
        return {i: self.profiles.by_request_id[i][0] for i in wanted}

    async def close(self) -> None:
        await self._deployment.kill()
        for collector in self._collectors:
            await collector.stop()


@pytest.fixture
async def runtime(
    kafka_bootstrap: str, unique_name: str, upstreams: Upstreams, tmp_path: Path
) -> AsyncIterator[Runtime]:
    """An unstarted deployment: write its pipeline or start it with ``await runtime.start(...)``."""
    deployment = Runtime(bootstrap=kafka_bootstrap, name=unique_name, workdir=tmp_path, upstreams=upstreams)
    try:
        yield deployment
    finally:
        await deployment.close()
