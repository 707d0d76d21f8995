"""The demo upstreams of a bench run: their own process, a free port, fixed latencies, a seeded SQLite.

They run in a child process (``python -m devkit.demo``), not in the bench's
event loop, so serving the upstream calls never competes with the runtime
being measured for the same loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from devkit.bench.errors import UpstreamsError
from devkit.bench.processes import Child
from devkit.bench.workloads import UPSTREAM_LATENCY_MS
from devkit.demo import DemoSettings

_START_TIMEOUT_S = 30.0
SOURCE_VARIABLES = ("CRM_URL", "ORDERS_URL", "SUPPORT_URL", "LOYALTY_URL", "RISK_URL", "WAREHOUSE_DSN")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DemoUpstreams:
    """``async with DemoUpstreams(workdir=...) as demo``: the services answer until the block ends."""

    def __init__(self, *, workdir: Path) -> None:
        self._workdir = workdir
        self._child: Child | None = None
        self._port = 0
        self.db_url = f"sqlite+aiosqlite:///{workdir / 'warehouse.db'}"
        self.token = DemoSettings().token.get_secret_value()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def pid(self) -> int:
        if self._child is None:
            raise UpstreamsError("the demo upstreams are not running; use `async with` first")
        return self._child.pid

    def env(self) -> dict[str, str]:
        """The variables customer360.yaml reads to find its sources."""
        return {
            "CRM_URL": f"{self.url}/crm",
            "ORDERS_URL": f"{self.url}/orders",
            "ORDERS_TOKEN": self.token,
            "SUPPORT_URL": f"{self.url}/support",
            "LOYALTY_URL": f"{self.url}/loyalty",
            "RISK_URL": f"{self.url}/risk",
            "WAREHOUSE_DSN": self.db_url,
        }

    async def start(self) -> None:
        self._port = free_port()
        faults = {service: {"latency_ms": ms} for service, ms in UPSTREAM_LATENCY_MS.items()}
        argv = [sys.executable, "-m", "devkit.demo", "--port", str(self._port), "--db-url", self.db_url]
        argv += ["--faults", json.dumps(faults)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        self._child = Child.spawn(
            "demo-upstreams", argv, env=env, cwd=self._workdir, log_path=self._workdir / "upstreams.log"
        )
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
        if self._child is not None:
            await self._child.stop()

    async def __aenter__(self) -> DemoUpstreams:
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
