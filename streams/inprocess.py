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

from planner import Emission, Outcome, Pipeline, RequestState, Task, plan_request
from streams.adaptive.fetcher import AdaptiveFetcher
from streams.execution import AttemptObserver, execute_task, now_ms
from streams.heap import freeze_startup_heap
from streams.settings import Settings
from streams.sources import SourcePool


class InProcessEngine:
    """Executes requests in this process; reuse one engine for many requests to reuse connections."""

    def __init__(self, *, sources: SourcePool | None = None, adaptive: AdaptiveFetcher | None = None) -> None:
        self._owns_sources = sources is None
        self.sources = sources or SourcePool()
        self._owns_adaptive = adaptive is None
        self.adaptive = adaptive or AdaptiveFetcher.from_settings(Settings())
        freeze_startup_heap()  # an engine serves many requests: see streams.heap

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
        trace_id: str | None = None,
        observer: AttemptObserver | None = None,
    ) -> Emission:
        """Plan and run one request to its profile (partial at the deadline)."""
        plan = plan_request(pipeline, keys=keys, fields=fields)
        state = RequestState(
            plan, request_id=request_id, received_at_ms=now_ms(), deadline_ms=deadline_ms, trace_id=trace_id
        )
        outcomes: asyncio.Queue[Outcome] = asyncio.Queue()
        running: set[asyncio.Task[None]] = set()

        async def fetch(task: Task) -> None:
            outcome = await execute_task(
                task, pipeline=pipeline, sources=self.sources, observer=observer, adaptive=self.adaptive
            )
            outcomes.put_nowait(outcome)

        def dispatch(tasks: Iterable[Task]) -> None:
            for task in tasks:
                job = asyncio.create_task(fetch(task), name=f"fetch:{task.task_id}")
                running.add(job)
                job.add_done_callback(running.discard)

        step = state.start(now_ms())
        try:
            while step.emission is None:
                dispatch(step.tasks)
                remaining_s = (state.deadline_at_ms - now_ms()) / 1000.0
                try:
                    async with asyncio.timeout(max(0.0, remaining_s)):
                        outcome = await outcomes.get()
                except TimeoutError:
                    step = state.expire(now_ms())
                else:
                    step = state.apply(outcome, now_ms())
            return step.emission
        finally:
            for job in list(running):
                job.cancel()
            for job in list(running):
                with contextlib.suppress(asyncio.CancelledError):
                    await job
