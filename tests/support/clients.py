"""Sending requests and awaiting profiles in tests, through the public client (:mod:`streams.client`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from streams.client import GraphfetchClient
from streams.settings import Settings

__all__ = ["produce_requests", "wait_for_profile"]


async def produce_requests(
    settings: Settings,
    pipeline: str,
    keys: Mapping[str, str],
    *,
    count: int = 1,
    fields: Sequence[str] | None = None,
    deadline_ms: float | None = None,
    rate: float | None = None,
    progress: Callable[[int], None] | None = None,
    id_prefix: str | None = None,
) -> list[str]:
    """What ``graphfetch produce`` does: ``count`` requests (``{i}`` numbered), their ids once acked."""
    async with GraphfetchClient(settings=settings) as client:
        return await client.send_many(
            pipeline,
            keys=keys,
            count=count,
            fields=fields,
            deadline_ms=deadline_ms,
            rate=rate,
            progress=progress,
            id_prefix=id_prefix,
        )


async def wait_for_profile(
    settings: Settings, topic: str, request_id: str, *, timeout_s: float
) -> dict[str, Any] | None:
    """The profile of ``request_id`` on ``topic`` (read from its beginning) as JSON, or None after ``timeout_s``."""
    client = GraphfetchClient(settings=settings)
    try:
        async with asyncio.timeout(timeout_s):
            async for profile in client.profiles(topic=topic, from_beginning=True):
                if profile.request_id == request_id:
                    return profile.model_dump(mode="json")
    except TimeoutError:
        return None
    return None
