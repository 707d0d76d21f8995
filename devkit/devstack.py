"""``graphfetch dev``: the whole system on one machine, no Docker.

It starts a local broker unless a bootstrap is given (``--broker auto`` takes
Apache Kafka where its jars and Java are installed, else Tansu, and says
which), the demo upstream services and a worker with every role, prints where
everything is (the operator console's URL too), sends a few demo requests and prints their profiles. One Ctrl-C stops everything; nothing is left running.

The broker and the demo upstreams come from the harness the bench, chaos runs and
tests share (:mod:`devkit.deployment`). Here the upstreams and the worker run in
this process's event loop: the upstreams listen where ``GRAPHFETCH_DEMO_HOST`` and
``GRAPHFETCH_DEMO_PORT`` say (the shipped configs' defaults), a port in use is
reported as such, and nothing but the broker is a child process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from devkit.brokers import choose_kind
from devkit.demo.server_settings import DemoSettings
from devkit.deployment.local import LocalDeployment
from devkit.deployment.upstreams import DemoUpstreams
from planner import Pipeline, Profile
from streams.cli.shared_options import BrokerKind
from streams.client import GraphfetchClient, ProfileTimeout
from streams.runtime.worker import Worker
from streams.settings import Settings

log = logging.getLogger("graphfetch.dev")
DEMO_CUSTOMERS = ("C00042", "C00001", "C04321")  # C00001 has a low credit score: risk runs


@dataclass(kw_only=True)
class DevOptions:
    settings: Settings
    pipelines: dict[str, Pipeline]
    broker: BrokerKind | None
    """The local broker to start; None when ``settings.bootstrap`` names a running one."""
    demo: bool
    echo: Callable[[str], None]
    console: bool = True
    """Serve ``graphfetch console`` too (on ``GRAPHFETCH_CONSOLE_PORT``)."""


class DevStack:
    """Broker, demo upstreams and a worker; :meth:`stop` (or one Ctrl-C) ends them all."""

    def __init__(self, options: DevOptions) -> None:
        self.options = options
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        opts = self.options
        kind = None if opts.broker is None else choose_kind(opts.broker)
        async with contextlib.AsyncExitStack() as stack:
            deployment = await stack.enter_async_context(LocalDeployment(settings=opts.settings, broker=kind))
            settings = deployment.settings
            broker_note = "given"
            if deployment.broker is not None:
                broker = deployment.broker
                broker_note = f"{broker.name}, started in {broker.startup_s or 0:.1f} s"
                if opts.broker is BrokerKind.AUTO and kind is BrokerKind.TANSU:
                    broker_note += "; Apache Kafka is not installed here (scripts/kafka/fetch)"
            demo = await stack.enter_async_context(
                DemoUpstreams.in_loop(DemoSettings(host=settings.demo_host, port=settings.demo_port))
            )
            worker = Worker(settings, pipelines=opts.pipelines)
            worker_job = asyncio.ensure_future(worker.run())
            console_stopping = asyncio.Event()
            console_job: asyncio.Future[None] | None = None
            try:
                await self._wait_ready(worker, worker_job)
                self._announce(settings, demo.url, broker_note)
                if opts.console:
                    console_job = await self._start_console(settings, console_stopping)
                if opts.demo:
                    await self._demo_requests(settings)
                opts.echo("graphfetch dev is running; press Ctrl-C to stop.")
                stop: asyncio.Future[Any] = asyncio.ensure_future(self._stopping.wait())
                await asyncio.wait(
                    [stop, cast("asyncio.Future[Any]", worker_job)], return_when=asyncio.FIRST_COMPLETED
                )
                stop.cancel()
            finally:
                console_stopping.set()
                if console_job is not None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await console_job
                worker.stop()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker_job

    async def _start_console(
        self, settings: Settings, stopping: asyncio.Event
    ) -> asyncio.Future[None] | None:
        """``graphfetch console`` in this loop; returns once it printed its URL (None without the extra)."""
        try:
            from streams.console import serve_console
        except ModuleNotFoundError as exc:
            self.options.echo(
                f"console           not started ({exc.name} is not installed: pip install 'graphfetch[console]')"
            )
            return None
        announced = asyncio.Event()

        def announce(url: str) -> None:
            self.options.echo(f"console           {url}")
            announced.set()

        for port in (settings.console_port, 0):  # a port in use: any free one, rather than no console
            console_settings = settings.model_copy(update={"console_port": port})
            job = asyncio.ensure_future(serve_console(console_settings, stopping=stopping, announce=announce))
            ready = asyncio.ensure_future(announced.wait())
            await asyncio.wait([ready, job], return_when=asyncio.FIRST_COMPLETED)
            if not job.done():
                return job
            ready.cancel()
            if port == 0 or not isinstance(job.exception(), OSError):
                job.result()  # raises why the console could not start
            log.warning("console: port %d is in use; serving on a free port", port)
        return None

    async def _wait_ready(self, worker: Worker, job: asyncio.Future[None]) -> None:
        ready: asyncio.Future[Any] = asyncio.ensure_future(worker.ready.wait())
        await asyncio.wait([ready, cast("asyncio.Future[Any]", job)], return_when=asyncio.FIRST_COMPLETED)
        if job.done():
            ready.cancel()
            job.result()  # raises the worker's start-up error

    def _announce(self, settings: Settings, demo_url: str, broker_note: str) -> None:
        echo = self.options.echo
        echo(f"kafka bootstrap   {settings.bootstrap}  ({broker_note})")
        echo(f"demo upstreams    {demo_url}  (knobs: PUT {demo_url}/_control/<service>)")
        echo(f"pipelines         {', '.join(sorted(self.options.pipelines))}  (from {settings.configs})")
        echo(f"requests topic    {settings.requests_topic}   dead letters: {settings.dlq_topic}")
        env = f"GRAPHFETCH_BOOTSTRAP={settings.bootstrap}"
        # A fetch wait other than the default is the broker's need (Tansu's): the client needs it too.
        if settings.fetch_max_wait_ms != Settings.model_fields["fetch_max_wait_ms"].default:
            env += f" GRAPHFETCH_FETCH_MAX_WAIT_MS={settings.fetch_max_wait_ms}"
        echo("try, in another terminal:")
        echo(f"  {env} graphfetch request customer360 --key customer_id=C00042")

    async def _demo_requests(self, settings: Settings) -> None:
        pipeline = self.options.pipelines.get("customer360")
        if pipeline is None:
            return
        topics = {pipeline.name: pipeline.config.output.topic}
        async with GraphfetchClient(settings=settings, output_topics=topics) as client:
            for customer in DEMO_CUSTOMERS:
                try:
                    profile = await client.request(
                        pipeline.name, keys={"customer_id": customer}, timeout_s=30
                    )
                except ProfileTimeout as exc:
                    self.options.echo(f"demo request: {exc}")
                    continue
                self.options.echo(summarise(profile))


def summarise(profile: Profile) -> str:
    """One line per profile: status, latency, each field (lists shown by their length)."""
    shown = []
    for name, value in profile.data.items():
        text = f"[{len(value)} items]" if isinstance(value, list) else json.dumps(value, ensure_ascii=False)
        shown.append(f"{name}={text}")
    errors = f"  errors: {', '.join(profile.errors)}" if profile.errors else ""
    return (
        f"{profile.request_id}  {profile.status}  {profile.timing.latency_ms:.1f} ms  "
        f"trace {profile.trace_id}\n    {'  '.join(shown)}{errors}"
    )
