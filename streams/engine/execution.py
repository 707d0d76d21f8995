"""Executing one task: a node's fetch with its timeout, retries and deadline, as an Outcome.

Both runtimes call :func:`execute_task`; a connector worker on Kafka and the
in-process engine therefore fetch in exactly the same way, through the
worker's :class:`~streams.engine.adaptive.fetcher.AdaptiveFetcher`. A node whose
``adaptive:`` policy turns the decisions off is fetched by its config alone on
the same path.
"""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import Any

from opentelemetry.trace import Span

from connectors import FetchError
from planner import Failure, Outcome, Pipeline, Task
from streams.engine.adaptive.fetcher import AdaptiveFetcher
from streams.engine.outcomes import AttemptObserver, failed_outcome, now_ms
from streams.engine.sources import SourcePool
from streams.telemetry.tracing import AttemptSpans, tracing_enabled


async def execute_task(
    task: Task,
    *,
    pipeline: Pipeline,
    sources: SourcePool,
    fetcher: AdaptiveFetcher,
    observer: AttemptObserver | None = None,
) -> Outcome:
    """Fetch a task's data; never raises for a fetch failure, which becomes the Outcome's failure."""
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
    return await fetcher.fetch(
        task,
        node=compiled,
        source=source,
        source_ident=sources.identity(task.source, compiled.source),
        remaining_ms=remaining_ms,
        observer=observer,
    )


def execute_under(
    span: Span, task: Task, *, pipeline: Pipeline, sources: SourcePool, fetcher: AdaptiveFetcher
) -> Coroutine[Any, Any, Outcome]:
    """:func:`execute_task` with a child span of ``span`` per attempt when tracing is on (retries,
    timeouts, breaker and hedging decisions as their events). Both runtimes fetch through here.
    With tracing off it is :func:`execute_task` itself: no coroutine of its own held for the fetch."""
    if not tracing_enabled():
        return execute_task(task, pipeline=pipeline, sources=sources, fetcher=fetcher)
    return _execute_traced(span, task, pipeline=pipeline, sources=sources, fetcher=fetcher)


async def _execute_traced(
    span: Span, task: Task, *, pipeline: Pipeline, sources: SourcePool, fetcher: AdaptiveFetcher
) -> Outcome:
    attempts = AttemptSpans(span, attributes={"graphfetch.node": task.node, "graphfetch.source": task.source})
    try:
        return await execute_task(
            task, pipeline=pipeline, sources=sources, fetcher=fetcher, observer=attempts
        )
    finally:
        attempts.close()
