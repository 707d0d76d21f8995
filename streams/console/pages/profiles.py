"""Profiles: the newest, searchable by request id or key; one profile in full, with its trace link."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from planner import Profile
from streams.console.deadletters import MASK
from streams.console.pages.rendering import render, stopping_of, view_of
from streams.console.sse import event_stream

PAGE_SIZE = 50
WAIT_S = 60.0


def masked_keys(profile: Profile, sensitive: frozenset[str]) -> dict[str, str]:
    return {k: (MASK if k in sensitive else v) for k, v in profile.keys.items()}


async def index(request: Request) -> Response:
    view = view_of(request)
    query = request.query_params.get("q", "")
    pipeline = request.query_params.get("pipeline") or None
    status = request.query_params.get("status") or None
    found = view.profiles.search(query, limit=PAGE_SIZE, pipeline=pipeline, status=status)
    return render(
        request,
        "profiles.html",
        entries=found,
        query=query,
        pipeline=pipeline,
        pipelines=view.catalog.names(),
        status=status,
        kept=len(view.profiles),
        sensitive=view.catalog.sensitive_keys(),
        masked_keys=masked_keys,
    )


async def detail(request: Request) -> Response:
    view = view_of(request)
    request_id = request.path_params["request_id"]
    entry = view.profiles.get(request_id)
    if entry is None:
        return render(request, "waiting.html", request_id=request_id)
    profile = entry.profile
    return render(
        request,
        "profile.html",
        entry=entry,
        profile=profile,
        keys=masked_keys(profile, view.catalog.sensitive_keys()),
        data=json.dumps(profile.data, indent=2, ensure_ascii=False),
        trace_url=view.settings.trace_url(profile.trace_id) if profile.trace_id else None,
    )


async def arrival(request: Request) -> Response:
    """One event once the profile of ``request_id`` is known (at once if it is), then the stream ends."""
    view = view_of(request)
    request_id = request.path_params["request_id"]

    stopping = stopping_of(request)

    async def arrived() -> AsyncIterator[dict[str, Any]]:
        try:
            async with asyncio.timeout(WAIT_S):
                while view.profiles.get(request_id) is None and not stopping.is_set():
                    arrival = asyncio.ensure_future(view.profiles.changed().wait())
                    stop = asyncio.ensure_future(stopping.wait())
                    try:
                        await asyncio.wait([arrival, stop], return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        arrival.cancel()
                        stop.cancel()
        except TimeoutError:
            pass
        yield {"arrived": view.profiles.get(request_id) is not None}

    return event_stream(arrived())


routes = [
    Route("/profiles", index),
    Route("/profiles/{request_id:path}", detail),
    Route("/events/profiles/{request_id:path}", arrival),
]
