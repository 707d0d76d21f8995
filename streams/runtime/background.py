"""Work that must end even when whoever began it stops waiting for it.

A worker's stop is bounded (``GRAPHFETCH_STOP_TIMEOUT_MS``): a close still running
at the timeout is left to end on its own, never cancelled before it ends, so that
what it closes is closed once the broker answers or aiokafka's timeouts pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

_running: set[asyncio.Future[Any]] = set()
"""What :func:`keep_going` began and has not ended: referenced, so it is not collected midway."""


def keep_going(work: Awaitable[T]) -> asyncio.Future[T]:
    """Run ``work`` as a task of its own until it ends, whoever stops waiting for it or is cancelled
    meanwhile (await it through :func:`asyncio.shield` to wait); an error it ends with is logged."""
    job = asyncio.ensure_future(work)
    _running.add(job)
    job.add_done_callback(_ended)
    return job


def _ended(job: asyncio.Future[Any]) -> None:
    _running.discard(job)
    if not job.cancelled() and job.exception() is not None:
        log.debug("background work ended with %r", job.exception())
