"""Live health: the page, and its figures pushed every second as server-sent events."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streams.console.health import WINDOW_S, HealthReport, cells_of, health_report
from streams.console.pages.rendering import render, stopping_of, view_of
from streams.console.sse import event_stream

PUSH_INTERVAL_S = 1.0


def _report(request: Request) -> HealthReport:
    view = view_of(request)
    return health_report(
        book=view.profiles,
        history=view.history,
        pipelines=view.served(),
        now_ms=time.time() * 1000,
        states=view.source_states,
        states_max_age_s=max(WINDOW_S, 3 * view.settings.stats_interval_s),
    )


async def page(request: Request) -> Response:
    report = _report(request)
    return render(request, "health.html", report=report, cells_of=cells_of, window_s=WINDOW_S)


async def events(request: Request) -> Response:
    stopping = stopping_of(request)

    async def reports() -> AsyncIterator[dict[str, Any]]:
        while not stopping.is_set() and not await request.is_disconnected():
            yield _report(request).as_json()
            with contextlib.suppress(TimeoutError):  # the push cadence: next report, or the console stops
                await asyncio.wait_for(stopping.wait(), PUSH_INTERVAL_S)

    return event_stream(reports())


routes = [Route("/health", page), Route("/events/health", events)]
