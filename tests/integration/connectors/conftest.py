"""A real HTTP upstream (uvicorn + starlette on a free 127.0.0.1 port) for the connector tests.

The server runs in its own thread and event loop for the whole session; tests
isolate their state with a unique key in the path. ``Upstream`` records what
the server saw (hits, in-flight peaks, raw requests), and tests read it
directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.support.asgi import serve_in_thread

ECHO_PREFIX = "/api/echo/"


@dataclass
class Upstream:
    """What the test server saw, per key; shared between the server thread and the tests."""

    base_url: str
    hits: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)
    max_in_flight: Counter[str] = field(default_factory=Counter)
    failing: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, key: str) -> int:
        with self.lock:
            self.hits[key] += 1
            return self.hits[key]

    def set_failing(self, key: str, failing: bool) -> None:
        with self.lock:
            (self.failing.add if failing else self.failing.discard)(key)


def build_app(upstream: Upstream, started: threading.Event) -> ASGIApp:
    async def ok(request: Request) -> Response:
        upstream.hit("ok")
        return JSONResponse({"ok": True, "items": [1, 2, 3]})

    async def text(request: Request) -> Response:
        return PlainTextResponse("plain words")

    async def slow(request: Request) -> Response:
        key = request.path_params["key"]
        upstream.hit(key)
        await asyncio.sleep(float(request.query_params.get("ms", "500")) / 1000.0)
        return JSONResponse({"slow": True})

    async def flaky(request: Request) -> Response:
        """Answers 503 the first ``fail`` times for a key, then 200."""
        key = request.path_params["key"]
        n = upstream.hit(key)
        if n <= int(request.query_params.get("fail", "1")):
            return JSONResponse({"error": "try later"}, status_code=503)
        return JSONResponse({"calls": n})

    async def switch(request: Request) -> Response:
        """503 while the test marks the key as failing, else 200."""
        key = request.path_params["key"]
        upstream.hit(key)
        if key in upstream.failing:
            return JSONResponse({"error": "down"}, status_code=503)
        return JSONResponse({"up": True})

    async def status(request: Request) -> Response:
        key = request.path_params["key"]
        upstream.hit(key)
        return JSONResponse({"status": "as asked"}, status_code=int(request.path_params["code"]))

    async def rate_limited(request: Request) -> Response:
        key = request.path_params["key"]
        n = upstream.hit(key)
        if n <= int(request.query_params.get("fail", "1")):
            headers = {"Retry-After": request.query_params.get("retry_after", "0")}
            return JSONResponse({"error": "slow down"}, status_code=429, headers=headers)
        return JSONResponse({"calls": n})

    async def echo(request: Request) -> Response:
        upstream.hit("echo")
        return JSONResponse(
            {
                "raw_path": request.scope["raw_path"].decode("latin-1"),
                "path": request.scope["path"],
                "rest": request.scope["path"].removeprefix(ECHO_PREFIX),
                "query": request.scope["query_string"].decode("latin-1"),
                "params": [[k, v] for k, v in request.query_params.multi_items()],
                "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]},
                "method": request.method,
                "body": (await request.body()).decode(),
            }
        )

    async def gauge(request: Request) -> Response:
        """Holds each request ``ms`` milliseconds and records the peak of concurrent ones."""
        key = request.path_params["key"]
        with upstream.lock:
            upstream.in_flight[key] += 1
            upstream.max_in_flight[key] = max(upstream.max_in_flight[key], upstream.in_flight[key])
        try:
            await asyncio.sleep(float(request.query_params.get("ms", "20")) / 1000.0)
        finally:
            with upstream.lock:
                upstream.in_flight[key] -= 1
        return JSONResponse({"ok": True})

    async def not_json(request: Request) -> Response:
        return Response(b"{not json", media_type="application/json")

    async def outside(request: Request) -> Response:
        upstream.hit("outside")
        return JSONResponse({"outside": True})

    api = [
        Route("/ok", ok),
        Route("/text", text),
        Route("/slow/{key}", slow),
        Route("/flaky/{key}", flaky),
        Route("/switch/{key}", switch),
        Route("/status/{code:int}/{key}", status),
        Route("/ratelimited/{key}", rate_limited),
        Route("/gauge/{key}", gauge),
        Route("/not-json", not_json),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started.set()
        yield

    routed = Starlette(routes=[Mount("/api", routes=api), Route("/{rest:path}", outside)], lifespan=lifespan)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        """Echo bypasses routing: route patterns do not match decoded CR/LF, echo must see them."""
        if scope["type"] == "http" and scope["path"].startswith(ECHO_PREFIX):
            response = await echo(Request(scope, receive))
            await response(scope, receive, send)
            return
        await routed(scope, receive, send)

    return app


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """Serve the test upstream on a free port; its base URL is ``upstream.base_url`` (ends in /api)."""
    state = Upstream(base_url="")
    with serve_in_thread(lambda started: build_app(state, started), name="test upstream") as port:
        state.base_url = f"http://127.0.0.1:{port}/api"
        yield state


@pytest.fixture
def key() -> str:
    """A key unique to the test, so server-side counters start at zero."""
    return uuid.uuid4().hex[:12]
