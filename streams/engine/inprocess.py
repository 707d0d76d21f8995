"""The in-process runtime: one request, asyncio only, no Kafka.

It drives the planner's state machine with the real connectors and fans out
every ready node at once, so a level costs its slowest node, not the sum. It is
``graphfetch run``'s engine and the reference the Kafka runtime is measured
against.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping

from opentelemetry.trace import Span

from planner import Emission, Outcome, Pipeline, RequestState, Task, plan_request
from streams.engine.adaptive.fetcher import AdaptiveFetcher
from streams.engine.execution import execute_task, execute_under
from streams.engine.outcomes import now_ms
from streams.engine.sources import SourcePool
from streams.settings import Settings
from streams.telemetry.tracing import (
    fetch_attributes,
    record_outcome,
    record_skip,
    trace_id_of,
    traced,
    tracing_enabled,
)


class InProcessEngine:
    """Executes requests in this process; reuse one engine for many requests to reuse connections.

    A process that serves many requests with it may call
    :func:`streams.heap.freeze_startup_heap` once its start-up is over (the
    bench does); the engine leaves the embedding process's collector alone.
    """

    def __init__(self, *, sources: SourcePool | None = None, adaptive: AdaptiveFetcher | None = None) -> None:
        self._owns_sources = sources is None
        self.sources = sources or SourcePool()
        self._owns_adaptive = adaptive is None
        self.adaptive = adaptive or AdaptiveFetcher.from_settings(Settings())

    async def __aenter__(self) -> InProcessEngine:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_sources:
            await self.sources.close()
        if self._owns_adaptive:
            await self.adaptive.close()

    async def execute(
        self,
        pipeline: Pipeline,
        *,
        keys: Mapping[str, str],
        fields: Iterable[str] | None = None,
        deadline_ms: float | None = None,
        request_id: str,
    ) -> Emission:
        """Plan and run one request to its profile (partial at the deadline).

        With tracing on, the request is one trace, as on Kafka: a ``run`` span with a ``fetch``
        span per node (its attempts below it, its decisions as events) and the profile's
        ``trace_id``.
        """
        with traced(
            f"run {pipeline.name}",
            attributes={
                "graphfetch.pipeline": pipeline.name,
                "graphfetch.request_id": request_id,
                "graphfetch.config_version": pipeline.version,
            },
        ) as span:
            return await self._execute(
                pipeline, keys=keys, fields=fields, deadline_ms=deadline_ms, request_id=request_id, span=span
            )

    async def _execute(
        self,
        pipeline: Pipeline,
        *,
        keys: Mapping[str, str],
        fields: Iterable[str] | None,
        deadline_ms: float | None,
        request_id: str,
        span: Span,
    ) -> Emission:
        plan = plan_request(self.sources.bind(pipeline), keys=keys, fields=fields)
        state = RequestState(
            plan,
            request_id=request_id,
            received_at_ms=now_ms(),
            deadline_ms=deadline_ms,
            trace_id=trace_id_of(span),
        )
        # None among the outcomes: the deadline passed. One timer per request, not a timeout per wait.
        outcomes = _Outcomes()
        running: set[asyncio.Task[None]] = set()

        async def fetch(task: Task) -> None:
            outcomes.put_nowait(await self._fetch(task, pipeline))

        def dispatch(tasks: Iterable[Task]) -> None:
            for task in tasks:
                job = asyncio.create_task(fetch(task), name=f"fetch:{task.task_id}")
                running.add(job)
                job.add_done_callback(running.discard)

        step = state.start(now_ms())
        remaining_s = (state.deadline_at_ms - now_ms()) / 1000.0
        deadline = asyncio.get_running_loop().call_later(max(0.0, remaining_s), outcomes.put_nowait, None)
        try:
            while True:
                for node in step.skipped:
                    record_skip(node=node, reason=state.skip_reason(node) or "")
                if step.emission is not None:
                    return step.emission
                dispatch(step.tasks)
                outcome = await outcomes.get()
                step = state.expire(now_ms()) if outcome is None else state.apply(outcome, now_ms())
        finally:
            deadline.cancel()
            for job in list(running):
                job.cancel()
            for job in list(running):
                with contextlib.suppress(asyncio.CancelledError):
                    await job

    async def _fetch(self, task: Task, pipeline: Pipeline) -> Outcome:
        if not tracing_enabled():  # no span to build per fetch
            return await execute_task(task, pipeline=pipeline, sources=self.sources, fetcher=self.adaptive)
        with traced(f"fetch {task.node}", attributes=fetch_attributes(task)) as span:
            outcome = await execute_under(
                span, task, pipeline=pipeline, sources=self.sources, fetcher=self.adaptive
            )
            record_outcome(span, outcome)
        return outcome


class _Outcomes:
    """One request's fetch results in the order they come (None: its deadline passed), for the one
    loop that reads them: what an ``asyncio.Queue`` would do, without its four deques (about 3 KB a
    request in flight)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Outcome | None] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, outcome: Outcome | None) -> None:
        self._items.append(outcome)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Outcome | None:
        """The oldest result, once there is one; cancelling the wait takes none."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)
