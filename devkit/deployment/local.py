"""A local deployment: a broker (its own, or the one the settings name) and worker processes on it.

``bench``, ``chaos``, ``graphfetch dev`` and the integration tests start their
deployments through :class:`LocalDeployment`; what they add (a probe, a profile
ledger, an in-process worker) stays with them. Stopping stops the workers first,
then what a caller registered with :meth:`LocalDeployment.at_stop`, then the
broker: a worker would otherwise retry against a stopped broker.

The faults a chaos run or a crash test injects are here too: :meth:`~LocalDeployment.kill`
(SIGKILL, like a crashed machine), :meth:`~LocalDeployment.spawn` of the same name
again (a restart), :meth:`~LocalDeployment.pause_broker` and
:meth:`~LocalDeployment.resume_broker` (SIGSTOP and SIGCONT).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path

from connectors import default_registry
from devkit.brokers import ChildBroker, local_broker
from devkit.deployment.child import STOP_TIMEOUT_S, Child
from devkit.deployment.errors import DeploymentError
from devkit.deployment.lifecycle import Lifecycle
from devkit.deployment.workers import WorkerProcesses, worker_env
from planner import Pipeline
from streams.cli.shared_options import BrokerKind
from streams.kafka.topics import describe_partitions, ensure_topics
from streams.runtime.worker import topic_specs
from streams.settings import Settings

NO_BROKER_YET = "127.0.0.1:0"
"""The bootstrap of settings whose broker the deployment starts: replaced once that broker serves."""


def on_broker(settings: Settings, broker: ChildBroker) -> Settings:
    """``settings`` pointed at a running ``broker``, with the fetch wait it needs unless they chose
    one (``GRAPHFETCH_FETCH_MAX_WAIT_MS``)."""
    update: dict[str, object] = {"bootstrap": broker.bootstrap}
    if broker.fetch_max_wait_ms is not None and "fetch_max_wait_ms" not in settings.model_fields_set:
        update["fetch_max_wait_ms"] = broker.fetch_max_wait_ms
    return settings.model_copy(update=update)


class LocalDeployment(Lifecycle):
    """``async with LocalDeployment(...) as d``: broker and workers; everything it started stops with the block.

    ``broker``: the kind of local broker to start (its log ``broker.log`` in ``workdir``),
    or None to use the one ``settings.bootstrap`` names (then ``async with`` is optional:
    workers can start at once). ``settings`` are the deployment's, their bootstrap replaced
    by the own broker's once it serves, and their fetch wait by the one that broker needs
    (:func:`on_broker`). ``workdir`` holds the logs and is the workers' current directory;
    without one, no worker process can start.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        workdir: Path | None = None,
        broker: BrokerKind | None = None,
        upstream_env: Mapping[str, str] | None = None,
        log_level: str = "INFO",
        stop_timeout_s: float = STOP_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self._workdir = workdir
        self._broker_kind = broker
        self.upstream_env = dict(upstream_env or {})
        self.broker: ChildBroker | None = None
        """The broker this deployment started, once it serves; None when it uses a given one."""
        self._workers = (
            WorkerProcesses(workdir=workdir, log_level=log_level, stop_timeout_s=stop_timeout_s)
            if workdir is not None
            else None
        )
        self._stack = contextlib.AsyncExitStack()

    @property
    def workers(self) -> WorkerProcesses:
        if self._workers is None:
            raise DeploymentError("a deployment without a workdir runs no worker processes")
        return self._workers

    async def start(self) -> None:
        """Start the broker (when it is this deployment's own) and point the settings at it."""
        if self._workdir is not None:
            self._workdir.mkdir(parents=True, exist_ok=True)
        if self._broker_kind is not None:
            log_path = self._workdir / "broker.log" if self._workdir is not None else None
            broker = local_broker(self._broker_kind, log_path=log_path)
            self.broker = await self._stack.enter_async_context(broker)
            self.settings = on_broker(self.settings, self.broker)

    async def create_topics(self, pipelines: Iterable[Pipeline]) -> None:
        """The topics the workers of ``pipelines`` use, created before the first starts: a request
        produced at once is then not lost to topic auto-creation."""
        specs = topic_specs(self.settings, pipelines, default_registry().names())
        await ensure_topics(self.settings.bootstrap, specs, **self.settings.kafka_security_options())

    async def wait_for_topics(self, topics: Sequence[str], *, timeout_s: float) -> None:
        """Until the workers created every topic with ``settings.partitions`` partitions (asked without
        auto-creating any); :class:`DeploymentError` with their logs if one exits first or time is up."""
        deadline = time.monotonic() + timeout_s
        missing = list(topics)
        while missing:
            if self.workers.dead():
                raise DeploymentError(f"a worker exited while starting:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise DeploymentError(f"topics {missing} not created within {timeout_s:g} s:\n{self.logs()}")
            counts = [await describe_partitions(self.settings.bootstrap, t) for t in missing]
            missing = [t for t, n in zip(missing, counts, strict=True) if n < self.settings.partitions]
            if missing:
                await asyncio.sleep(0.1)  # topic creation has no notification; re-ask shortly

    def spawn(
        self,
        name: str,
        *,
        roles: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        tracing: bool = False,
    ) -> Child:
        """Start (or restart) the worker ``name``; it joins the groups of those already running.

        Its environment: :meth:`worker_environment`."""
        return self.workers.start(name, env=self.worker_environment(env, tracing=tracing), roles=roles)

    def worker_environment(
        self, env: Mapping[str, str] | None = None, *, tracing: bool = False
    ) -> dict[str, str]:
        """A worker's environment: ``env`` last, over the upstreams' variables and the deployment's
        settings. On an own broker that does not honour static membership (Tansu), workers join as
        dynamic members unless ``env`` says otherwise."""
        dynamic = self.broker is not None and not self.broker.honours_static_membership
        extra = {**({"GRAPHFETCH_STATIC_MEMBERSHIP": "false"} if dynamic else {}), **(env or {})}
        return worker_env(self.settings, upstreams=self.upstream_env, tracing=tracing, extra=extra)

    async def kill(self, names: Sequence[str] | None = None) -> None:
        """SIGKILL the named workers (None: every one) at once: no drain, no last commit."""
        await self.workers.kill(names)

    def pause_broker(self) -> None:
        """Freeze the own broker (SIGSTOP): connections stay open, nothing is answered."""
        self._own_broker().pause()

    def resume_broker(self) -> None:
        self._own_broker().resume()

    def _own_broker(self) -> ChildBroker:
        if self.broker is None:
            raise DeploymentError("this deployment has no broker of its own; use `async with` first")
        return self.broker

    def logs(self) -> str:
        return self.workers.logs() if self._workers is not None else ""

    def at_stop(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` when the deployment stops: after the workers, before the broker."""
        self._stack.push_async_callback(callback)

    async def stop(self) -> None:
        if self._workers is not None:
            await self._workers.stop()
        await self._stack.aclose()
