"""A real graphfetch deployment to break: its own local broker, worker processes by role, a profile ledger.

Every scenario gets a fresh deployment (a memory-only broker starts in well
under a second), so a fault that leaves the runtime in a bad state cannot
spoil the figures of the next scenario. It is a
:class:`~devkit.deployment.local.LocalDeployment` (the harness the bench, ``graphfetch
dev`` and the tests share): workers are ``graphfetch worker --role ...`` children,
the demo upstreams run in their own process
(:class:`devkit.deployment.upstreams.DemoUpstreams`), topics are created before
the first worker starts, and the pipeline is the checkout's ``customer360.yaml``
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

import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import yaml

from devkit.bench.suite import default_pipeline_file
from devkit.bench.workloads import customer360, load_workload_pipelines, write_configs
from devkit.chaos.guarantees import EXACTLY_ONCE_DEFAULTS, Guarantee
from devkit.chaos.layouts import Layout
from devkit.chaos.profile_ledger import ProfileLedger
from devkit.chaos.stream import send_probe
from devkit.deployment.child import Child
from devkit.deployment.errors import DeploymentError
from devkit.deployment.local import NO_BROKER_YET, LocalDeployment
from devkit.deployment.usage import rss_bytes
from streams.cli.shared_options import BrokerKind
from streams.settings import Settings

PIPELINE = "customer360"
_START_TIMEOUT_S = 90.0


class Deployment(LocalDeployment):
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
        settings = Settings(
            bootstrap=NO_BROKER_YET, configs=workdir / "configs", processing_guarantee=guarantee.value
        ).isolated(name)
        super().__init__(settings=settings, workdir=workdir, broker=broker, upstream_env=upstream_env)
        self.name = name
        self.guarantee = guarantee
        self.layout = layout
        self._worker_env = {"GRAPHFETCH_PROCESSING_GUARANTEE": guarantee.value, **(worker_env or {})}
        self._ledger: ProfileLedger | None = None

    @property
    def output_topic(self) -> str:
        return f"{self.name}.profiles"

    @property
    def ledger(self) -> ProfileLedger:
        if self._ledger is None:
            raise DeploymentError("the deployment is not started; use `async with` first")
        return self._ledger

    async def start(self) -> None:
        await super().start()
        document = yaml.safe_load(default_pipeline_file().read_text())
        if self.guarantee is Guarantee.EXACTLY_ONCE:
            document["defaults"] = {**document.get("defaults", {}), **EXACTLY_ONCE_DEFAULTS}
        write_configs(self.settings.configs, [customer360(document)], output_topic=self.output_topic)
        pipelines = load_workload_pipelines(self.settings.configs, env={**os.environ, **self.upstream_env})
        await self.create_topics(pipelines.values())
        # read_committed under exactly-once: the settings carry the guarantee to make_consumer.
        self._ledger = ProfileLedger(self.settings, topic=self.output_topic)
        await self._ledger.start()
        self.at_stop(self._ledger.stop)
        for worker in self.layout.workers:
            self.start_worker(worker)
        await self._probe()

    async def _probe(self) -> None:
        """Return once a request got its profile (every role is up), or fail with the logs."""
        request_id = f"{self.name}-probe-{uuid.uuid4().hex[:6]}"
        await send_probe(self.settings, PIPELINE, request_id)
        ledger = self.ledger
        answered = await ledger.wait_until(lambda: request_id in ledger.seen, timeout_s=_START_TIMEOUT_S)
        if not answered:
            raise DeploymentError(f"no profile for the probe within {_START_TIMEOUT_S:g} s\n{self.logs()}")

    def start_worker(self, worker: str) -> Child:
        """Start (or restart) the named worker of the layout; it joins the groups of the others.

        Its worker id is its name, whichever life of it this is (see the module docstring)."""
        env = {**self._worker_env, "GRAPHFETCH_WORKER_ID": worker}
        return self.spawn(worker, roles=self.layout.workers[worker], env=env)

    def worker_rss_bytes(self) -> int:
        """Resident memory of every live worker process, added up."""
        return sum(rss_bytes(child.pid) for child in self.workers.by_name.values() if child.alive)
