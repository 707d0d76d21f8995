"""A real graphfetch deployment per test: demo upstreams, worker processes on the session's broker.

* ``upstreams`` (per module): the demo services (:class:`devkit.demo.DemoServer`)
  on a free port in a background thread with its own event loop, with a seeded
  SQLite warehouse. ``set_faults`` changes a service's knobs through
  ``PUT /_control/{service}``; every test starts and ends with healthy services.
* ``runtime`` (per test): topics, groups and output topic unique to the test,
  a copy of ``configs/customer360.yaml`` publishing to that output topic
  (``write_pipeline`` patches its defaults or nodes), and ``graphfetch worker``
  processes with the roles asked (output in a log file each, whose tail goes
  into failure messages; SIGKILLed at teardown). ``await runtime.start(workers=n)``
  returns once the topics exist and a probe request got its profile.
* :class:`TopicCollector`: a group-less consumer reading every partition of a
  topic from the beginning; tests wait on it (an ``asyncio.Condition``
  notified after every batch, never a sleep) for the records they expect,
  and count duplicates per request id. ``runtime.profiles`` and
  ``runtime.dead_letters`` collect the output topic and the DLQ.

Workers run the installed ``graphfetch`` console script with
``OTEL_SDK_DISABLED=true`` (``runtime.tracing = True`` keeps the SDK, without
an exporter) and ``GRAPHFETCH_SESSION_TIMEOUT_MS=6000``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiokafka.structs import RecordMetadata

from devkit.demo import DemoServer, DemoSettings
from streams.kafka.factory import make_producer
from streams.kafka.topicreader import Received, TopicCollector
from streams.kafka.topics import describe_partitions
from streams.settings import Settings
from tests.support.environment import inherited_env

REPO = Path(__file__).resolve().parents[3]
PIPELINE_FILE = REPO / "configs" / "customer360.yaml"
PIPELINE = "customer360"
PARTITIONS = 4
CONNECTORS = ("http", "sql")
STARTUP_TIMEOUT_S = 60.0
LOG_TAIL_LINES = 40


# -- demo upstreams ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Upstreams:
    """Where the demo services listen, and their fault knobs."""

    url: str
    db_url: str

    def env(self) -> dict[str, str]:
        """The variables customer360.yaml reads to find its sources."""
        return {
            "CRM_URL": f"{self.url}/crm",
            "ORDERS_URL": f"{self.url}/orders",
            "SUPPORT_URL": f"{self.url}/support",
            "LOYALTY_URL": f"{self.url}/loyalty",
            "RISK_URL": f"{self.url}/risk",
            "WAREHOUSE_DSN": self.db_url,
        }

    def set_faults(self, service: str, **knobs: float | bool) -> None:
        response = httpx.put(f"{self.url}/_control/{service}", json=knobs, timeout=5.0)
        assert response.status_code == 200, response.text

    def reset_faults(self) -> None:
        response = httpx.delete(f"{self.url}/_control", timeout=5.0)
        assert response.status_code == 200, response.text


class _DemoThread:
    """A DemoServer in its own thread and event loop, so it serves while tests block or await."""

    def __init__(self, settings: DemoSettings) -> None:
        self._settings = settings
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.url = ""
        self._thread = threading.Thread(target=self._run, name="demo-upstreams", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the test thread by start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        async with DemoServer(self._settings) as server:
            self.url = server.url
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()

    def start(self, *, timeout_s: float = 30.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"the demo upstreams did not start within {timeout_s:g} s")
        if self._error is not None:
            raise RuntimeError("the demo upstreams failed to start") from self._error

    def stop(self, *, timeout_s: float = 15.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    """The demo services for this module, with the credit table in a SQLite file."""
    db_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    server = _DemoThread(DemoSettings(port=0, db_url=db_url))
    server.start()
    try:
        yield Upstreams(url=server.url, db_url=db_url)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _healthy_upstreams(upstreams: Upstreams) -> Iterator[None]:
    """Fault knobs a test sets never leak into the next test."""
    upstreams.reset_faults()
    yield
    upstreams.reset_faults()


# -- reading topics --------------------------------------------------------------------------------


# -- worker processes ------------------------------------------------------------------------------


def _graphfetch_command() -> list[str]:
    script = Path(sys.executable).with_name("graphfetch")
    if not script.exists():
        pytest.fail(f"the graphfetch console script is not installed next to {sys.executable}")
    return [str(script)]


@dataclass(kw_only=True)
class WorkerProcess:
    """A ``graphfetch worker`` child process writing to its own log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no drain, no last commit, like a crashed machine."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    async def stop(self, *, timeout_s: float = 30.0) -> int:
        """SIGTERM: the worker drains, commits and leaves its groups; returns its exit code."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.process.wait, timeout_s)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        tail = "\n".join(text.splitlines()[-lines:])
        state = "running" if self.alive else f"exited with {self.process.returncode}"
        return f"--- {self.name} ({state}), {self.log_path} ---\n{tail}"


# -- one deployment per test -----------------------------------------------------------------------


@dataclass(kw_only=True)
class Runtime:
    """graphfetch on the shared broker with this test's own topics, groups, configs and workers."""

    bootstrap: str
    name: str
    workdir: Path
    upstreams: Upstreams
    workers: list[WorkerProcess] = field(default_factory=list)
    tracing: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    _collectors: list[TopicCollector] = field(default_factory=list)
    _profiles: TopicCollector | None = None
    _dead_letters: TopicCollector | None = None

    @property
    def output_topic(self) -> str:
        return f"{self.name}.profiles"

    @property
    def settings(self) -> Settings:
        """The settings the workers run with, for this test's own clients."""
        return Settings(
            bootstrap=self.bootstrap,
            configs=self.workdir / "configs",
            partitions=PARTITIONS,
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
        ).isolated(self.name)

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

    def _env(self) -> dict[str, str]:
        s = self.settings
        env = inherited_env()
        env.update(self.upstreams.env())
        env.update(s.deployment_env())
        if not self.tracing:
            env["OTEL_SDK_DISABLED"] = "true"
        env.update(self.extra_env)
        return env

    def start_worker(self, *, roles: Sequence[str] = ("planner", "connector", "aggregator")) -> WorkerProcess:
        """Start one more ``graphfetch worker``; it joins the groups of those already running."""
        if not (self.workdir / "configs").exists():
            self.write_pipeline()
        name = f"worker-{len(self.workers) + 1}"
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*_graphfetch_command(), "worker", "--role", ",".join(roles), "--log-level", "INFO"],
                env=self._env(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # signals meant for the test run's process group pass it by
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(name=name, process=process, log_path=log_path)
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        """The tail of every worker's log, for assertion messages."""
        return "\n".join(w.log_tail() for w in self.workers)

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
        await self._wait_for_topics(topics)
        self._profiles = await self.collect(self.output_topic)
        self._dead_letters = await self.collect(s.dlq_topic)
        probe = f"probe-{uuid.uuid4().hex[:8]}"
        await self.send([{"request_id": probe, "pipeline": PIPELINE, "keys": {"customer_id": "C00001"}}])
        await self.wait_for_profiles([probe], timeout_s=STARTUP_TIMEOUT_S)

    async def _wait_for_topics(self, topics: Sequence[str]) -> None:
        """Until the workers created every topic (asked without auto-creating any)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        missing = list(topics)
        while missing:
            dead = [w for w in self.workers if not w.alive]
            if dead:
                pytest.fail(f"a worker exited while starting:\n{self.logs()}")
            if time.monotonic() > deadline:
                pytest.fail(f"topics {missing} not created within {STARTUP_TIMEOUT_S:g} s:\n{self.logs()}")
            counts = [await describe_partitions(self.bootstrap, t) for t in missing]
            missing = [t for t, n in zip(missing, counts, strict=True) if n < PARTITIONS]
            if missing:
                await asyncio.sleep(0.1)  # topic creation has no notification; re-ask shortly

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
        for worker in self.workers:
            worker.kill()
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
