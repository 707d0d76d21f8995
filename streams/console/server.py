"""Serving the console: the cluster view started, uvicorn on a bound socket, the URL announced."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

import uvicorn

from streams.console.app import create_app
from streams.console.cluster import ClusterView
from streams.settings import Settings


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handlers: its owner stops it (``graphfetch console`` on the first
    Ctrl-C, ``graphfetch dev`` with everything else)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free one), so the URL is known before the server starts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(
            f"the console cannot listen on {host}:{port} ({exc.strerror}): set GRAPHFETCH_CONSOLE_PORT"
        ) from exc
    sock.listen(128)
    return sock


async def serve_view(
    view: ClusterView, sock: socket.socket, *, stopping: asyncio.Event, announce: Callable[[str], None]
) -> None:
    """Serve the pages of a started ``view`` on ``sock`` until ``stopping`` is set."""
    config = uvicorn.Config(
        create_app(view, stopping=stopping),
        http="h11",
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = _EmbeddedServer(config)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    host, port = sock.getsockname()[:2]
    announce(f"http://{host}:{port}/")
    stop = asyncio.ensure_future(stopping.wait())
    await asyncio.wait([serving, stop], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stop.cancel()
    await serving


async def serve_console(
    settings: Settings, *, stopping: asyncio.Event, announce: Callable[[str], None]
) -> None:
    """Serve the console until ``stopping`` is set; ``announce`` gets its URL once it listens."""
    sock = bind(settings.console_host, settings.console_port)
    try:
        async with ClusterView(settings) as view:
            await serve_view(view, sock, stopping=stopping, announce=announce)
    finally:
        sock.close()
