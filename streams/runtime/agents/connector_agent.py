"""The connector agent: tasks in, results out, many fetches at once but never more than a bound.

Each task is fetched with the node's timeout, retries and the request's
deadline, and its result is published to the request's partition of
``graphfetch.results``. A task's offset is committed only after its result is
acknowledged, so a crash re-fetches unfinished tasks (same task id: the
aggregator keeps the first result).

At most ``max_in_flight_tasks`` fetches run at once; up to ``max_queued_tasks``
more are held, and when a fetch slot frees the held task with the longest
predicted path to the end of its graph runs first (critical path first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace

from aiokafka import TopicPartition
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span
from pydantic import ValidationError

from planner import Failure, Outcome, Pipeline, Task
from streams.engine.adaptive.gate import PriorityGate
from streams.engine.adaptive.priority import PathPredictor
from streams.engine.execution import execute_under
from streams.engine.outcomes import now_ms
from streams.events import ResultEvent, TaskEvent
from streams.runtime.agents.agent import Agent, AgentContext, Record, coordinates
from streams.runtime.agents.delivery import Outgoing
from streams.runtime.offsets import OffsetTracker
from streams.telemetry import metrics
from streams.telemetry.tracing import (
    context_from,
    fetch_attributes,
    headers_for,
    record_outcome,
    record_queue,
    traced,
    tracing_enabled,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Received:
    """A task record, decoded: what its processing needs of it. Neither the record (its raw bytes)
    nor the event parsed from them is held while the fetch runs, only the task they make."""

    offset: int
    task: Task
    reply_partition: int
    dispatched_at_ms: float
    parent: otel_context.Context
    """The trace context the record carries."""


class ConnectorAgent(Agent):
    role = "connector"

    def __init__(self, ctx: AgentContext, *, connectors: list[str]) -> None:
        super().__init__(ctx)
        self._connectors = connectors
        self._offsets = OffsetTracker()
        self._slot_free = asyncio.Event()
        self._gate = PriorityGate(self.settings.max_in_flight_tasks)
        self._held = self.settings.max_in_flight_tasks + self.settings.max_queued_tasks
        self._paths = PathPredictor(ctx.adaptive.p50_ms) if ctx.adaptive is not None else None
        self._gauge = metrics.register_gauge(
            "graphfetch.tasks.in_flight", lambda: [(float(len(self.jobs)), {})]
        )

    def topics(self) -> list[str]:
        return [self.settings.tasks_topic(c) for c in self._connectors]

    def committable(self) -> dict[TopicPartition, int]:
        return self._offsets.committable()

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        self._offsets.committed(offsets)

    async def revoked(self, partitions: list[TopicPartition]) -> None:
        self._offsets.forget(partitions)

    def poll_limit(self) -> int:
        return max(1, self._held - len(self.jobs))

    async def handle(self, batch: dict[TopicPartition, list[Record]]) -> None:
        for tp, records in batch.items():
            for record in records:
                self._offsets.start(tp, record.offset)
                received = self._receive(tp, record)
                if received is None:
                    continue
                self.spawn(self._process(tp, received), name=f"task {coordinates(record)}")
        while len(self.jobs) >= self._held:
            self._slot_free.clear()
            await self._slot_free.wait()

    def job_ended(self) -> None:
        """A fetch slot is free: wake a batch waiting for room."""
        self._slot_free.set()

    def _receive(self, tp: TopicPartition, record: Record) -> _Received | None:
        """The task a record carries, or None for an invalid one (logged, its offset finished)."""
        try:
            event = TaskEvent.model_validate_json(record.value or b"")
        except ValidationError as exc:
            log.error("%s: invalid task event, skipped: %s", coordinates(record), exc.errors()[:1])
            self._offsets.finish(tp, record.offset)
            return None
        return _Received(
            offset=record.offset,
            task=event.to_task(),
            reply_partition=event.reply_partition,
            dispatched_at_ms=event.dispatched_at_ms,
            parent=context_from(record.headers),
        )

    async def _process(self, tp: TopicPartition, received: _Received) -> None:
        task, parent = received.task, received.parent
        picked_at = now_ms()
        if received.dispatched_at_ms and tracing_enabled():
            token = otel_context.attach(parent)
            try:
                record_queue(
                    node=task.node, dispatched_at_ms=received.dispatched_at_ms, picked_at_ms=picked_at
                )
            finally:
                otel_context.detach(token)
        pipeline = self.ctx.store.known_version(task.pipeline, task.config_version)
        if pipeline is None:
            pipeline = await self.ctx.store.version(task.pipeline, task.config_version)
        with traced(
            f"fetch {task.node}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": tp.topic,
                "messaging.kafka.destination.partition": tp.partition,
                "messaging.kafka.message.offset": received.offset,
                **fetch_attributes(task),
            },
        ) as span:
            if pipeline is None or task.node not in pipeline.nodes:
                outcome = Outcome(
                    node=task.node,
                    failure=Failure(
                        kind="unknown_pipeline",
                        message=f"this worker does not know pipeline '{task.pipeline}' node '{task.node}'",
                    ),
                    attempts=0,
                )
            else:
                outcome = await self._fetch(task, pipeline, span)
            record_outcome(span, outcome)
            labels = {"graphfetch.pipeline": task.pipeline, "graphfetch.node": task.node}
            metrics.node_duration.record(outcome.latency_ms, labels)
            if outcome.failure is not None:
                metrics.node_errors.add(1, {**labels, "error.type": outcome.failure.kind})
            headers = headers_for(span)
        result = ResultEvent.from_outcome(task, outcome)
        await self.send(
            [
                Outgoing(
                    topic=self.settings.results_topic,
                    value=result.model_dump_json().encode(),
                    key=task.request_id.encode(),
                    partition=received.reply_partition,
                    headers=headers,
                )
            ]
        )
        self._offsets.finish(tp, received.offset)

    async def _fetch(self, task: Task, pipeline: Pipeline, span: Span) -> Outcome:
        """Wait for a fetch slot (critical path first when saturated), then fetch."""
        priority = 0.0
        if self._paths is not None and pipeline.nodes[task.node].policy.critical_path_first:
            priority = self._paths.remaining_ms(pipeline, task.node)
        waited_ms = await self._gate.acquire(priority)
        try:
            outcome = await execute_under(
                span, task, pipeline=pipeline, sources=self.ctx.sources, fetcher=self.ctx.adaptive
            )
        finally:
            self._gate.release()
        if waited_ms < 1.0:
            return outcome
        note = f"waited {waited_ms:.0f} ms for a fetch slot on a saturated worker"
        if priority:
            note += f" (critical path first: {priority:.0f} ms predicted from here to the end)"
        return replace(outcome, notes=(note, *outcome.notes))

    async def drain(self, timeout_s: float) -> None:
        self._gauge()
        pending = await self.settle(timeout_s)
        for job in pending:
            job.cancel()
        for job in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await job
