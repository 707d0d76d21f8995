"""Demo upstream servers for the tests: in this event loop, or as separate processes.

In-loop servers (``start_demo``) listen on port 0 and seed no database unless
asked, so tests run side by side. Processes (``spawn_demo``) run
``python -m devkit.demo --port 0`` and announce their URL on stderr once they
listen; the fixture waits for that line with a deadline, then checks ``/healthz``.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from devkit.demo import DemoServer, DemoSettings

_ANNOUNCED = re.compile(r"demo upstreams on (http://\S+)")
_STARTUP_DEADLINE_S = 30.0
_STATS_DEADLINE_S = 5.0


@dataclass
class DemoProcess:
    """A ``python -m devkit.demo`` child process and the URL it announced."""

    process: subprocess.Popen[str]
    url: str

    def stop(self, sig: signal.Signals = signal.SIGTERM, *, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        if self.process.stderr is not None:
            self.process.stderr.close()
        return code


def _wait_for_announcement(process: subprocess.Popen[str]) -> str:
    """The URL the process prints once it listens; fails after the deadline or if it exits."""
    assert process.stderr is not None
    deadline = time.monotonic() + _STARTUP_DEADLINE_S
    seen: list[str] = []
    while (remaining := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([process.stderr], [], [], remaining)
        if not readable:
            break
        line = process.stderr.readline()
        if not line:
            pytest.fail(f"demo process exited before listening:\n{''.join(seen)}")
        seen.append(line)
        if match := _ANNOUNCED.search(line):
            return match.group(1)
    pytest.fail(f"demo process did not listen within {_STARTUP_DEADLINE_S} s:\n{''.join(seen)}")


def _assert_healthy(url: str) -> None:
    response = httpx.get(f"{url}/healthz", timeout=5.0)
    assert response.status_code == 200, response.text


@pytest.fixture
def spawn_demo() -> Iterator[Callable[..., DemoProcess]]:
    """Start ``python -m devkit.demo --port 0 <args>``; every process is stopped afterwards."""
    started: list[DemoProcess] = []

    def spawn(*args: str, env: dict[str, str] | None = None) -> DemoProcess:
        process = subprocess.Popen(
            [sys.executable, "-m", "devkit.demo", "--port", "0", *args],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(env or {})},
        )
        demo = DemoProcess(process=process, url="")
        started.append(demo)
        demo.url = _wait_for_announcement(process)
        _assert_healthy(demo.url)
        return demo

    yield spawn
    for demo in started:
        if demo.process.poll() is None:
            demo.process.kill()
        demo.stop()


@pytest.fixture
async def start_demo() -> AsyncIterator[Callable[..., Awaitable[DemoServer]]]:
    """Start an in-loop demo server on a free port (``db_url=None`` unless given)."""
    async with AsyncExitStack() as stack:

        async def start(**settings: Any) -> DemoServer:
            merged: dict[str, Any] = {"port": 0, "db_url": None, **settings}
            return await stack.enter_async_context(DemoServer(DemoSettings(**merged)))

        yield start


@pytest.fixture
async def demo(start_demo: Callable[..., Awaitable[DemoServer]]) -> DemoServer:
    """A demo server with the default settings (5,000 customers, token ``demo``, no faults)."""
    return await start_demo()


@pytest.fixture
async def client(demo: DemoServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``demo`` that allows hundreds of concurrent connections."""
    limits = httpx.Limits(max_connections=1_000, max_keepalive_connections=1_000)
    async with httpx.AsyncClient(base_url=demo.url, limits=limits, timeout=30.0) as client:
        yield client


StatsPredicate = Callable[[dict[str, int]], bool]


@pytest.fixture
def stats_eventually() -> Callable[..., Awaitable[dict[str, int]]]:
    """Wait, with a deadline, until a service's ``/_stats`` entry satisfies a predicate.

    Stats live in the server; reading them over HTTP until they match is the
    only way a client can wait for the server to notice something (a disconnect,
    an arrived call). Fails the test when the deadline passes.
    """

    async def wait(client: httpx.AsyncClient, service: str, predicate: StatsPredicate) -> dict[str, int]:
        stats: dict[str, int] = {}
        try:
            async with asyncio.timeout(_STATS_DEADLINE_S):
                while True:
                    stats = (await client.get("/_stats")).json()[service]
                    if predicate(stats):
                        return stats
                    await asyncio.sleep(0.01)
        except TimeoutError:
            pytest.fail(f"{service} stats never matched within {_STATS_DEADLINE_S} s: {stats}")

    return wait
