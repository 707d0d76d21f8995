"""A real graphfetch deployment to break: its own local broker, worker processes by role, a profile ledger.

Every scenario gets a fresh deployment (a memory-only broker starts in well
under a second), so a fault that leaves the runtime in a bad state cannot
spoil the figures of the next scenario. The pieces are the bench's: the
demo upstreams run in their own process (:class:`devkit.bench.upstreams.DemoUpstreams`),
workers are ``graphfetch worker --role ...`` children
(:class:`devkit.bench.processes.Child`), topics are created before the
first worker starts, and the pipeline is the checkout's ``customer360.yaml``
publishing to the deployment's own output topic.

A :class:`~devkit.chaos.layouts.Layout` names the worker processes and their roles.
Each worker process gets its layout name as ``GRAPHFETCH_WORKER_ID``, the same
across restarts, as a pod name would be: under exactly-once a restarted worker
fences its killed predecessor's open transaction at once (its transactional id
is ``<deployment>.<worker>``) instead of leaving ``read_committed`` readers
waiting for the transaction timeout.

Under :attr:`~devkit.chaos.guarantees.Guarantee.EXACTLY_ONCE` the workers run
with ``GRAPHFETCH_PROCESSING_GUARANTEE=exactly_once``, the ledger reads
``read_committed`` and customer360 gets the longer
:data:`~devkit.chaos.guarantees.EXACTLY_ONCE_DEFAULTS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import yaml

from connectors import default_registry
from devkit.bench.kafka_runtime import worker_command
from devkit.bench.processes import Child, rss_bytes
from devkit.bench.suite import default_pipeline_file
from devkit.bench.upstreams import SOURCE_VARIABLES
from devkit.bench.workloads import customer360, load_workload_pipelines, write_configs
from devkit.brokers import ChildBroker, local_broker
from devkit.chaos.guarantees import EXACTLY_ONCE_DEFAULTS, Guarantee
from devkit.chaos.layouts import Layout
from devkit.chaos.profile_ledger import ProfileLedger
from devkit.chaos.stream import send_probe
from streams.cli.shared_options import BrokerKind
from streams.kafka.topics import ensure_topics
from streams.runtime.worker import topic_specs
from streams.settings import Settings

PIPELINE = "customer360"
_START_TIMEOUT_S = 90.0


class DeploymentError(RuntimeError):
    """The deployment could not start or lost a process it needs; the message quotes the worker logs."""


class Deployment:
    """``async with Deployment(...) as d``: broker, topics, workers serving; everything stops with the block."""

    def __init__(
        self,
        *,
        name: str,
        layout: Layout,
        upstream_env: Mapping[str, str],
        workdir: Path,
        worker_env: Mapping[str, str] | None = None,
        broker: BrokerKind = BrokerKind.TANSU,
        guarantee: Guarantee = Guarantee.AT_LEAST_ONCE,
    ) -> None:
        self.name = name
        self._broker_kind = broker
        self.guarantee = guarantee
        self.layout = layout
        self._upstream_env = dict(upstream_env)
        self._worker_env = dict(worker_env or {})
        self._workdir = workdir
        self._stack = contextlib.AsyncExitStack()
        self._broker: ChildBroker | None = None
        self._spawned = 0
        self.workers: dict[str, Child] = {}
        self._ledger: ProfileLedger | None = None
        self.settings = Settings(bootstrap="127.0.0.1:0")

    @property
    def output_topic(self) -> str:
        return f"{self.name}.profiles"

    @property
    def broker(self) -> ChildBroker:
        if self._broker is None:
            raise DeploymentError("the deployment is not started; use `async with` first")
        return self._broker

    @property
    def ledger(self) -> ProfileLedger:
        if self._ledger is None:
            raise DeploymentError("the deployment is not started; use `async with` first")
        return self._ledger

    async def start(self) -> None:
        self._workdir.mkdir(parents=True, exist_ok=True)
        broker = local_broker(self._broker_kind, log_path=self._workdir / "broker.log")
        self._broker = await self._stack.enter_async_context(broker)
        self.settings = Settings(
            bootstrap=broker.bootstrap,
            configs=self._workdir / "configs",
            processing_guarantee=self.guarantee.value,
        ).isolated(self.name)
        document = yaml.safe_load(default_pipeline_file().read_text())
        if self.guarantee is Guarantee.EXACTLY_ONCE:
            document["defaults"] = {**document.get("defaults", {}), **EXACTLY_ONCE_DEFAULTS}
        write_configs(self.settings.configs, [customer360(document)], output_topic=self.output_topic)
        pipelines = load_workload_pipelines(self.settings.configs, env={**os.environ, **self._upstream_env})
        specs = topic_specs(self.settings, pipelines.values(), default_registry().names())
        await ensure_topics(self.settings.bootstrap, specs)
        # read_committed under exactly-once: the settings carry the guarantee to make_consumer.
        self._ledger = ProfileLedger(self.settings, topic=self.output_topic)
        await self._ledger.start()
        self._stack.push_async_callback(self._ledger.stop)
        self._stack.push_async_callback(self._stop_workers)
        for worker in self.layout.workers:
            self.spawn(worker)
        await self._probe()

    async def _probe(self) -> None:
        """Return once a request got its profile (every role is up), or fail with the logs."""
        request_id = f"{self.name}-probe-{uuid.uuid4().hex[:6]}"
        await send_probe(self.settings, PIPELINE, request_id)
        ledger = self.ledger
        answered = await ledger.wait_until(lambda: request_id in ledger.seen, timeout_s=_START_TIMEOUT_S)
        if not answered:
            raise DeploymentError(f"no profile for the probe within {_START_TIMEOUT_S:g} s\n{self.logs()}")

    def _env(self) -> dict[str, str]:
        s = self.settings
        scrubbed = ("GRAPHFETCH_", "OTEL_")
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(scrubbed) and k not in SOURCE_VARIABLES
        }
        env.update(self._upstream_env)
        env.update({**s.deployment_env(), "OTEL_SDK_DISABLED": "true"})
        env["GRAPHFETCH_PROCESSING_GUARANTEE"] = s.processing_guarantee
        env.update(self._worker_env)
        return env

    def spawn(self, worker: str) -> Child:
        """Start (or restart) the named worker of the layout; it joins the groups of the others.

        Its worker id is its name, whichever life of it this is (see the module docstring)."""
        roles = self.layout.workers[worker]
        self._spawned += 1
        argv = [*worker_command(), "--role", ",".join(roles), "--log-level", "INFO"]
        log_path = self._workdir / f"{worker}-{self._spawned}.log"
        env = {**self._env(), "GRAPHFETCH_WORKER_ID": worker}
        child = Child.spawn(worker, argv, env=env, cwd=self._workdir, log_path=log_path)
        self.workers[worker] = child
        return child

    async def kill(self, workers: Sequence[str]) -> None:
        """SIGKILL the named workers at once: no drain, no last commit, like a crashed machine."""
        children = [self.workers[w] for w in workers]
        for child in children:
            if child.alive:
                child.process.send_signal(signal.SIGKILL)
        await asyncio.gather(*(asyncio.to_thread(child.process.wait) for child in children))

    def worker_rss_bytes(self) -> int:
        """Resident memory of every live worker process, added up."""
        return sum(rss_bytes(child.pid) for child in self.workers.values() if child.alive)

    def dead_workers(self) -> list[str]:
        return [name for name, child in self.workers.items() if not child.alive]

    def logs(self) -> str:
        return "\n".join(child.log_tail() for child in self.workers.values())

    async def _stop_workers(self) -> None:
        """Workers before the broker: they would otherwise retry against a stopped broker."""
        await asyncio.gather(*(child.stop() for child in self.workers.values()))

    async def stop(self) -> None:
        await self._stack.aclose()

    async def __aenter__(self) -> Deployment:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
