"""Executing one task: a node's fetch with its timeout, retries and deadline, as an Outcome.

Both runtimes call :func:`execute_task`; a connector worker on Kafka and the
in-process engine therefore fetch in exactly the same way.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from opentelemetry.trace import Span

from connectors import AttemptEvent, FetchError, FetchOutcome, RetryPolicy
from planner import Failure, Outcome, Pipeline, Task
from streams.sources import SourcePool
from streams.telemetry import AttemptSpans, tracing_enabled

if TYPE_CHECKING:
    from streams.adaptive.fetcher import AdaptiveFetcher

AttemptObserver = Callable[[AttemptEvent], None]


@functools.lru_cache(maxsize=64)
def retry_policy(retries: int) -> RetryPolicy:
    """The (frozen) policy for a task's retry count, built once per count instead of validated
    again for every fetch (~0.9 us each)."""
    return RetryPolicy(retries=retries)


def now_ms() -> float:
    """Wall-clock epoch milliseconds: deadlines and timestamps cross processes."""
    return time.time() * 1000.0


async def execute_task(
    task: Task,
    *,
    pipeline: Pipeline,
    sources: SourcePool,
    observer: AttemptObserver | None = None,
    adaptive: AdaptiveFetcher | None = None,
) -> Outcome:
    """Fetch a task's data; never raises for a fetch failure, which becomes the Outcome's failure.

    With ``adaptive``, the worker's history drives the fetch's decisions
    (:mod:`streams.adaptive.fetcher`); without it the node's config alone does.
    """
    started = time.perf_counter()
    remaining_ms = task.deadline_at_ms - now_ms()
    if remaining_ms <= 0:
        return Outcome(
            node=task.node,
            failure=Failure(kind="deadline", message="not started: the request's deadline had passed"),
            attempts=0,
        )
    compiled = pipeline.nodes[task.node]
    try:
        source = await sources.get(task.source, compiled.source)
    except FetchError as exc:
        return failed_outcome(task, exc, started=started)
    if adaptive is not None:
        return await adaptive.fetch(
            task,
            node=compiled,
            source=source,
            source_ident=sources.identity(task.source, compiled.source),
            remaining_ms=remaining_ms,
            observer=observer,
        )
    try:
        result = await source.call(
            task.request,
            timeout_ms=task.timeout_ms,
            retry=retry_policy(task.retries),
            deadline=time.monotonic() + remaining_ms / 1000.0,
            observer=observer,
        )
    except FetchError as exc:
        return failed_outcome(task, exc, started=started)
    return fetched_outcome(task, result)


async def execute_under(
    span: Span,
    task: Task,
    *,
    pipeline: Pipeline,
    sources: SourcePool,
    adaptive: AdaptiveFetcher | None = None,
) -> Outcome:
    """:func:`execute_task` with a child span of ``span`` per attempt when tracing is on (retries,
    timeouts, breaker and hedging decisions as their events). Both runtimes fetch through here."""
    if not tracing_enabled():
        return await execute_task(task, pipeline=pipeline, sources=sources, adaptive=adaptive)
    attempts = AttemptSpans(span, attributes={"graphfetch.node": task.node, "graphfetch.source": task.source})
    try:
        return await execute_task(
            task, pipeline=pipeline, sources=sources, observer=attempts, adaptive=adaptive
        )
    finally:
        attempts.close()


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
    """A fetch failure as the task's Outcome; ``started`` is the fetch's ``time.perf_counter()``."""
    return Outcome(
        node=task.node,
        failure=Failure(kind=exc.kind, message=str(exc), retriable=exc.retriable),
        attempts=getattr(exc, "attempts", 1),
        latency_ms=(time.perf_counter() - started) * 1000.0,
        fetched_at_ms=now_ms(),
        notes=tuple(notes),
    )
