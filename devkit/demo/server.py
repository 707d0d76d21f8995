"""Run the demo upstreams on a real socket inside a running event loop.

:class:`DemoServer` is the lifecycle (``async with``, ``stop()`` safe to call
twice, the bound port known even for port 0); :func:`serve` runs one until
cancelled. The embedding process owns the signals: uvicorn's own handlers are
left out, so ``graphfetch dev`` can run these services beside its workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
from collections.abc import Iterator
from types import TracebackType
from typing import Final

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from devkit.demo.app import create_app
from devkit.demo.seed import display_url, seed_database
from devkit.demo.server_settings import DemoSettings

_GRACEFUL_SHUTDOWN_S: Final = 5
"""Backstop: in-flight calls still running this long after stop() are cancelled."""


class DemoServerError(RuntimeError):
    """The demo upstreams could not start (the message says why and what to change)."""


class ServerState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class _EmbeddedServer(uvicorn.Server):
    """uvicorn's server without signal handlers, announcing when it listens."""

    def __init__(self, config: uvicorn.Config, *, listening: asyncio.Event) -> None:
        super().__init__(config)
        self._listening = listening

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._listening.set()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DemoServerError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another port") from exc
    return sock


class DemoServer:
    """The demo upstreams listening on ``settings.host:settings.port`` until stopped.

    ``start()`` seeds ``settings.db_url`` (when set), binds, and returns once the
    server accepts connections.
    """

    def __init__(self, settings: DemoSettings) -> None:
        self._settings = settings
        self._state = ServerState.NEW
        self._closing = asyncio.Event()
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def state(self) -> ServerState:
        return self._state

    @property
    def port(self) -> int:
        """The bound port (the real one when the settings asked for port 0)."""
        if self._port is None:
            raise DemoServerError("the demo server has no port yet; call start() first")
        return self._port

    @property
    def url(self) -> str:
        """Base URL of the services, e.g. ``http://127.0.0.1:8700``."""
        host = self._settings.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    async def start(self) -> None:
        if self._state is not ServerState.NEW:
            raise DemoServerError(f"a demo server starts once; this one is {self._state.value}")
        if self._settings.db_url:
            await self._seed(self._settings.db_url)
        app = create_app(self._settings, closing=self._closing)
        config = uvicorn.Config(
            app,
            host=self._settings.host,
            port=self._settings.port,
            http="auto",  # httptools when installed, h11 otherwise
            ws="none",
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
        )
        listening = asyncio.Event()
        self._socket = _bind(self._settings.host, self._settings.port)
        self._port = self._socket.getsockname()[1]
        self._server = _EmbeddedServer(config, listening=listening)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        self._state = ServerState.RUNNING
        announced = asyncio.create_task(listening.wait())
        try:
            await asyncio.wait({announced, self._task}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await self.stop()
            raise
        finally:
            announced.cancel()
        if not listening.is_set():
            await self.stop()
            raise DemoServerError("the demo server stopped while starting; see the log above")

    async def _seed(self, db_url: str) -> None:
        try:
            await seed_database(db_url, customers=self._settings.customers)
        except (SQLAlchemyError, OSError) as exc:
            raise DemoServerError(
                f"cannot seed the credit table at {display_url(db_url)} ({exc}); "
                "pass a reachable database URL, or none to skip seeding"
            ) from exc

    async def wait(self) -> None:
        """Until the server stops (by :meth:`stop`, or on its own after an error)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Answer delayed calls at once, let in-flight calls finish, close. Safe to repeat."""
        if self._state is not ServerState.RUNNING:
            self._state = ServerState.STOPPED
            return
        self._state = ServerState.STOPPED
        self._closing.set()
        if self._server is not None:
            self._server.should_exit = True
        try:
            if self._task is not None:
                await self._task
        finally:
            if self._socket is not None:
                self._socket.close()

    async def __aenter__(self) -> DemoServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


async def serve(settings: DemoSettings, *, ready: asyncio.Event | None = None) -> None:
    """Serve the demo upstreams until cancelled; ``ready`` is set once they accept calls."""
    async with DemoServer(settings) as server:
        if ready is not None:
            ready.set()
        await server.wait()
