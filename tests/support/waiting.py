"""Waiting for a condition with a deadline, for state that has no event to await.

Where there is an event (an ``asyncio.Event``, a collector's ``wait_until``), await it instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["until"]


async def until(
    condition: Callable[[], bool],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.01,
    redo: Callable[[], object] | None = None,
    redo_every_s: float = 1.0,
) -> None:
    """Wait until ``condition()`` holds, re-checked every ``interval_s``; fail naming ``what`` after
    ``timeout_s``.

    ``redo``, if given, is called at once and again every ``redo_every_s`` while the condition does
    not hold: for a trigger that may go unseen, such as a file written before its watcher began.
    The deadline, not the interval, bounds the wait: give it room for a machine several times
    slower than a developer's.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    redo_at = started
    while not condition():
        now = time.monotonic()
        if now > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        if redo is not None and now >= redo_at:
            redo()
            redo_at = now + redo_every_s
        await asyncio.sleep(interval_s)
