"""The demo upstream services of a local deployment, in a child process or in this event loop.

* :meth:`DemoUpstreams.child` (``bench``, ``chaos``, the integration tests): their
  own process (``python -m devkit.demo``) on a free port with a seeded SQLite
  warehouse in the work folder, so serving the upstream calls never competes with
  the runtime under test for an event loop, and a test that blocks its own loop
  still gets answers. Their fault knobs are set over HTTP (``PUT /_control``).
* :meth:`DemoUpstreams.in_loop` (``graphfetch dev``): a :class:`~devkit.demo.DemoServer`
  in the caller's event loop, beside its in-process worker, where the settings say;
  a port in use raises :class:`~devkit.demo.server.DemoServerError` as the server does.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Self

import httpx

from devkit.brokers.process import free_port
from devkit.demo import DemoServer, DemoSettings, FaultSettings
from devkit.deployment.child import Child
from devkit.deployment.errors import UpstreamsError
from devkit.deployment.lifecycle import Lifecycle

_START_TIMEOUT_S = 30.0


class DemoUpstreams(Lifecycle):
    """``async with DemoUpstreams.child(workdir) as demo``: the services answer until the block ends."""

    def __init__(self, settings: DemoSettings, *, workdir: Path | None) -> None:
        """Prefer :meth:`child` or :meth:`in_loop`; ``workdir`` None runs them in this event loop."""
        self.settings = settings
        self._workdir = workdir
        self._child: Child | None = None
        self._server: DemoServer | None = None
        self._port = settings.port

    @classmethod
    def child(cls, workdir: Path, *, latency_ms: Mapping[str, float] | None = None) -> Self:
        """A child process on a free port, the credit table in ``workdir``, each service's fixed latency."""
        faults = {service: FaultSettings(latency_ms=ms) for service, ms in (latency_ms or {}).items()}
        db_url = f"sqlite+aiosqlite:///{workdir / 'warehouse.db'}"
        return cls(DemoSettings(port=0, db_url=db_url, faults=faults), workdir=workdir)

    @classmethod
    def in_loop(cls, settings: DemoSettings) -> Self:
        """A :class:`~devkit.demo.DemoServer` in this event loop, on ``settings.host:settings.port``."""
        return cls(settings, workdir=None)

    @property
    def url(self) -> str:
        if self._server is not None:
            return self._server.url
        return f"http://{self.settings.host}:{self._port}"

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL of the seeded credit table."""
        if not self.settings.db_url:
            raise UpstreamsError("these demo upstreams seed no database")
        return self.settings.db_url

    @property
    def token(self) -> str:
        return self.settings.token.get_secret_value()

    def env(self) -> dict[str, str]:
        """The variables customer360.yaml reads to find its sources."""
        env = {
            "CRM_URL": f"{self.url}/crm",
            "ORDERS_URL": f"{self.url}/orders",
            "ORDERS_TOKEN": self.token,
            "SUPPORT_URL": f"{self.url}/support",
            "LOYALTY_URL": f"{self.url}/loyalty",
            "RISK_URL": f"{self.url}/risk",
        }
        if self.settings.db_url:
            env["WAREHOUSE_DSN"] = self.settings.db_url
        return env

    async def start(self) -> None:
        if self._workdir is None:
            self._server = DemoServer(self.settings)
            await self._server.start()
            return
        self._port = self.settings.port or free_port()
        s = self.settings
        argv = [sys.executable, "-m", "devkit.demo", "--host", s.host, "--port", str(self._port)]
        argv += ["--db-url", s.db_url] if s.db_url else ["--no-db"]
        # Only the knobs set: a service's own entry would otherwise override every `default` knob.
        faults = {name: knobs.model_dump(exclude_unset=True) for name, knobs in s.faults.items()}
        argv += ["--faults", json.dumps(faults)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        log_path = self._workdir / "upstreams.log"
        self._child = Child.spawn("demo-upstreams", argv, env=env, cwd=self._workdir, log_path=log_path)
        await self._wait_healthy(self._child)

    async def _wait_healthy(self, child: Child) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        delay = 0.05
        async with httpx.AsyncClient(trust_env=False, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if not child.alive:
                    raise UpstreamsError(f"the demo upstreams exited while starting:\n{child.log_tail()}")
                try:
                    response = await client.get(f"{self.url}/healthz")
                except httpx.HTTPError:
                    response = None
                if response is not None and response.status_code == 200:
                    return
                await asyncio.sleep(delay)  # a child's start-up has no event to await
                delay = min(delay * 2, 0.5)
        raise UpstreamsError(
            f"the demo upstreams did not answer within {_START_TIMEOUT_S:g} s:\n{child.log_tail()}"
        )

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        if self._child is not None:
            await self._child.stop()
