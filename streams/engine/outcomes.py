"""A fetch's result as the task's :class:`~planner.Outcome`, and the clock outcomes are stamped with."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable

from connectors import FETCH_ERROR_KINDS, AttemptEvent, FetchError, FetchOutcome, RetryPolicy
from planner import Failure, Outcome, Task

AttemptObserver = Callable[[AttemptEvent], None]


@functools.lru_cache(maxsize=64)
def retry_policy(retries: int) -> RetryPolicy:
    """The (frozen) policy for a task's retry count, built once per count instead of validated
    again for every fetch (~0.9 us each)."""
    return RetryPolicy(retries=retries)


def now_ms() -> float:
    """Wall-clock epoch milliseconds: deadlines and timestamps cross processes."""
    return time.time() * 1000.0


def fetched_outcome(task: Task, result: FetchOutcome, *, notes: Iterable[str] = ()) -> Outcome:
    """A successful fetch as the task's Outcome."""
    return Outcome(
        node=task.node,
        value=result.value,
        attempts=result.attempts,
        latency_ms=result.latency_ms,
        fetched_at_ms=now_ms(),
        notes=tuple(notes),
    )


def failed_outcome(task: Task, exc: FetchError, *, started: float, notes: Iterable[str] = ()) -> Outcome:
    """A fetch failure as the task's Outcome; ``started`` is the fetch's ``time.perf_counter()``.

    A plugin's error class that sets a ``kind`` of its own (mypy refuses it, Python does not) is
    reported as ``fetch_error``: a profile carries only the kinds docs/spec.md#error-kinds lists."""
    kind = exc.kind if exc.kind in FETCH_ERROR_KINDS else "fetch_error"
    return Outcome(
        node=task.node,
        failure=Failure(kind=kind, message=str(exc), retriable=exc.retriable),
        attempts=getattr(exc, "attempts", 1),
        latency_ms=(time.perf_counter() - started) * 1000.0,
        fetched_at_ms=now_ms(),
        notes=tuple(notes),
    )
