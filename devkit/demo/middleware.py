"""The ASGI middleware that applies fault knobs and counts calls, per service.

A delayed call waits with ``asyncio.sleep`` (the loop keeps serving others)
and ends early in two cases: the client went away (a hedged or timed-out
request; the call leaves ``in_flight`` at once instead of hanging on), or the
server is shutting down (the call is answered 503 so shutdown does not wait
for a 30 s hang).
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devkit.demo.call_counts import StatsBook
from devkit.demo.faults import FaultInjector
from devkit.demo.server_settings import SERVICES


class _Wake(enum.Enum):
    """Why a delayed call woke up; when several happened at once, the first listed wins."""

    DISCONNECTED = "disconnected"
    CLOSING = "closing"
    ELAPSED = "elapsed"


def service_of(path: str) -> str | None:
    """The service a path belongs to (its first segment), ``None`` for other paths."""
    first = path.lstrip("/").split("/", 1)[0]
    return first if first in SERVICES else None


async def _until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class FaultMiddleware:
    """Delays, fails and counts the calls to the demo services; other paths pass through."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        faults: FaultInjector,
        stats: StatsBook,
        closing: asyncio.Event,
    ) -> None:
        self._app = app
        self._faults = faults
        self._stats = stats
        self._closing = closing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = service_of(scope["path"]) if scope["type"] == "http" else None
        if service is None:
            await self._app(scope, receive, send)
            return
        status = 0

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self._stats.enter(service)
        try:
            await self._call(service, scope, receive, send_counted)
        finally:
            # status 0: the client left before an answer, or the app crashed (answered 500).
            self._stats.leave(service, failed=status >= 500)

    async def _call(self, service: str, scope: Scope, receive: Receive, send: Send) -> None:
        decision = self._faults.decide(service, in_flight=self._stats.in_flight(service))
        if decision.delay_ms > 0:
            wake = await self._wait(decision.delay_ms / 1000, receive)
            if wake is _Wake.DISCONNECTED:
                return
            if wake is _Wake.CLOSING:
                await _unavailable(service, "server shutting down")(scope, receive, send)
                return
        if decision.fail:
            reason = "service down" if decision.down else "injected failure"
            await _unavailable(service, reason)(scope, receive, send)
            return
        await self._app(scope, receive, send)

    async def _wait(self, seconds: float, receive: Receive) -> _Wake:
        """Sleep ``seconds`` unless the client disconnects or the server closes first.

        The service endpoints never read a request body, so listening for the
        disconnect here takes nothing they need.
        """
        waits: dict[asyncio.Task[Any], _Wake] = {
            asyncio.create_task(asyncio.sleep(seconds)): _Wake.ELAPSED,
            asyncio.create_task(_until_disconnected(receive)): _Wake.DISCONNECTED,
            asyncio.create_task(self._closing.wait()): _Wake.CLOSING,
        }
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        woken = {waits[task] for task in done}
        return next(wake for wake in _Wake if wake in woken)


def _unavailable(service: str, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason, "service": service}, status_code=503)
