"""Serve an ASGI app with uvicorn on a free loopback port, in a thread, for the length of a ``with``."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.types import Receive, Send


@contextmanager
def serve_in_thread(
    build: Callable[[threading.Event], Any], *, name: str, backlog: int = 128
) -> Iterator[int]:
    """Yield the port once the app built by ``build(started)`` has set ``started`` (its lifespan start).

    The socket is bound and listening before uvicorn starts, so connections
    queue from the first moment; asyncio sets TCP_NODELAY only on a socket made
    with ``IPPROTO_TCP``.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    started = threading.Event()
    config = uvicorn.Config(
        build(started),
        http="h11",
        ws="none",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        if not started.wait(timeout=10):
            raise RuntimeError(f"{name} did not start within 10 s")
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


async def serve_lifespan(receive: Receive, send: Send, started: threading.Event) -> None:
    """Answer a bare ASGI app's ``lifespan`` scope: set ``started`` at start-up, return at shutdown."""
    while (message := await receive())["type"] != "lifespan.shutdown":
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            started.set()
    await send({"type": "lifespan.shutdown.complete"})
