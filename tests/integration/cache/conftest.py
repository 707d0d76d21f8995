"""Real services for the cache and coalescing tests: the local Redis and a counting HTTP upstream.

* ``redis_url``: the Redis at 127.0.0.1:6379 (``GRAPHFETCH_TEST_REDIS_URL`` overrides it); tests
  are skipped, saying why, when nothing answers there.
* ``redis_prefix``: a key prefix unique to the test; every key under it is deleted afterwards,
  so tests share the Redis without seeing each other's entries.
* ``counting_upstream``: a starlette app under uvicorn on a free 127.0.0.1 port, in its own thread
  and event loop, that counts the requests it receives per path and holds each one a little, so
  concurrent fetches overlap for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import urllib.parse
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.asgi import serve_in_thread

REDIS_URL = os.environ.get("GRAPHFETCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HOLD_S = 0.05
"""How long the upstream holds a request, unless its ``hold_ms`` parameter says otherwise: long
enough for 20 fetches started in one turn of the loop to overlap."""


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"graphfetch:test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound then released, so connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class CountingUpstream:
    """Requests the server received, per path; written by the server thread, read by tests."""

    base_url: str
    hits: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hits_for(self, path: str) -> int:
        with self.lock:
            return self.hits[path]


def _app(upstream: CountingUpstream, started: threading.Event) -> Starlette:
    async def item(request: Request) -> Response:
        with upstream.lock:
            upstream.hits[request.url.path] += 1
            n = upstream.hits[request.url.path]
        await asyncio.sleep(float(request.query_params.get("hold_ms", HOLD_S * 1000)) / 1000)
        return JSONResponse({"id": request.path_params["id"], "served": n})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started.set()
        yield

    return Starlette(routes=[Route("/items/{id}", item)], lifespan=lifespan)


@pytest.fixture(scope="module")
def counting_upstream() -> Iterator[CountingUpstream]:
    state = CountingUpstream(base_url="")
    with serve_in_thread(lambda started: _app(state, started), name="counting upstream") as port:
        state.base_url = f"http://127.0.0.1:{port}"
        yield state


class TcpRelay:
    """A local TCP relay to Redis that a test can cut and restore, as if Redis went away and came back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._writers.update((client_writer, upstream_writer))

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))


@pytest.fixture
async def redis_relay(redis_url: str) -> AsyncIterator[TcpRelay]:
    """A relay to the test Redis on its own port; cut it to simulate an outage."""
    url = urllib.parse.urlsplit(redis_url)
    relay = TcpRelay(url.hostname or "127.0.0.1", url.port or 6379)
    await relay.start()
    yield relay
    await relay.cut()
