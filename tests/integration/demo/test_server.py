"""Starting and stopping the demo upstreams: in this loop with ``serve``/``DemoServer``, and as a process."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devkit.demo import DemoServer, DemoServerError, DemoSettings, FaultSettings, serve
from devkit.demo.server import ServerState

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_serve_seeds_the_database_then_serves_until_cancelled(tmp_path: Path) -> None:
    port = _free_port()
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    ready = asyncio.Event()
    task = asyncio.create_task(serve(DemoSettings(port=port, db_url=db_url, customers=100), ready=ready))
    await asyncio.wait_for(ready.wait(), timeout=30)

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/healthz")).status_code == 200
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("select count(*) from credit"))).scalar_one() == 100
    finally:
        await engine.dispose()

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/healthz")


async def test_port_zero_binds_a_free_port_reported_by_the_server() -> None:
    states = []
    async with DemoServer(DemoSettings(port=0, db_url=None)) as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        states.append(server.state)
    states.append(server.state)
    assert states == [ServerState.RUNNING, ServerState.STOPPED]


async def test_stop_twice_is_harmless() -> None:
    server = DemoServer(DemoSettings(port=0, db_url=None))
    await server.start()
    await server.stop()
    await server.stop()
    assert server.state is ServerState.STOPPED


async def test_a_busy_port_fails_with_a_message_naming_it() -> None:
    async with DemoServer(DemoSettings(port=0, db_url=None)) as first:
        with pytest.raises(DemoServerError, match=f"127.0.0.1:{first.port}"):
            await DemoServer(DemoSettings(port=first.port, db_url=None)).start()


@pytest.mark.parametrize(
    "db_url",
    ["postgresql+asyncpg://demo:hunter2@127.0.0.1:1/nowhere", "nonsense://", "sqlite+aiosqlite:///{missing}"],
)
async def test_a_database_that_cannot_be_seeded_fails_start_without_leaking_the_password(
    tmp_path: Path, db_url: str
) -> None:
    settings = DemoSettings(port=0, db_url=db_url.format(missing=tmp_path / "no" / "such" / "dir.db"))
    with pytest.raises(DemoServerError, match="cannot seed the credit table") as failed:
        await DemoServer(settings).start()
    assert "hunter2" not in str(failed.value)


async def test_cancelling_start_leaves_nothing_running() -> None:
    server = DemoServer(DemoSettings(port=0, db_url=None))
    starting = asyncio.create_task(server.start())
    await asyncio.sleep(0)  # one loop step: start() binds, then waits for uvicorn; cancel it there
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert server.state is ServerState.STOPPED
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{server.port}/healthz")


async def test_stop_answers_hanging_calls_at_once(
    stats_eventually: Callable[..., Awaitable[dict[str, int]]],
) -> None:
    settings = DemoSettings(port=0, db_url=None, faults={"crm": FaultSettings(hang_rate=1.0, hang_ms=60_000)})
    server = DemoServer(settings)
    await server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        hanging = asyncio.create_task(client.get("/crm/customers/C00001"))
        await stats_eventually(client, "crm", lambda s: s["in_flight"] == 1)
        started = time.perf_counter()
        await server.stop()
        response = await hanging
    assert time.perf_counter() - started < 3.0
    assert response.status_code == 503
    assert response.json() == {"error": "server shutting down", "service": "crm"}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_process_stops_cleanly_on_signal(
    spawn_demo: Callable[..., Any], tmp_path: Path, sig: signal.Signals
) -> None:
    demo = spawn_demo("--db-url", f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}", "--customers", "20")
    assert httpx.get(f"{demo.url}/crm/customers/C00019").status_code == 200
    started = time.perf_counter()
    assert demo.stop(sig) == 0
    assert time.perf_counter() - started < 5.0
    assert (tmp_path / "demo.db").exists()
