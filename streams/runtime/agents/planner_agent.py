"""The planner agent: requests in; accepted events and the first tasks out; bad requests to the DLQ.

For each batch: plan every request, publish its ``accepted`` event to its
partition of ``graphfetch.results`` (so its aggregator knows it before any of
its results), then publish the ready tasks, then commit. A crash before the
commit replans the request: same request id, same task ids, so the duplicates
that follow are recognised downstream.
"""

from __future__ import annotations

import base64
import logging
import zlib
from dataclasses import dataclass

from aiokafka import TopicPartition
from opentelemetry import trace

from planner import RequestError, RequestState, plan_request
from planner.profile import iso_ms
from streams.engine.outcomes import now_ms
from streams.events import AcceptedEvent, DeadLetter, RecordCoordinates, TaskEvent
from streams.runtime.agents.agent import Agent, AgentContext, Record, coordinates
from streams.runtime.agents.delivery import Outgoing
from streams.runtime.intake import decode_request, derived_request_id
from streams.telemetry import metrics
from streams.telemetry.tracing import context_from, dispatch_span_headers, headers_for, record_skip, traced

log = logging.getLogger(__name__)
DLQ_VALUE_LIMIT = 65_536


def results_partition(request_id: str, partitions: int) -> int:
    """The partition of graphfetch.results that carries everything about one request."""
    return zlib.crc32(request_id.encode()) % partitions


@dataclass(frozen=True, kw_only=True)
class _Planned:
    accepted: AcceptedEvent
    partition: int
    tasks: list[TaskEvent]
    headers: list[tuple[str, bytes]]
    task_headers: list[list[tuple[str, bytes]]]


class PlannerAgent(Agent):
    role = "planner"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self._results_partitions = 0
        self._done: dict[TopicPartition, int] = {}

    def topics(self) -> list[str]:
        return [self.settings.requests_topic]

    async def before_poll(self) -> None:
        """Back-pressure: past the worker's in-flight limit, take no request until one finishes (or
        the agent is asked to stop: the aggregator that would free the room may have stopped first)."""
        if self.ctx.requests_in_flight >= self.settings.max_in_flight_requests:
            await self.unless_stopped(self.ctx.capacity.wait())

    def poll_limit(self) -> int:
        room = self.settings.max_in_flight_requests - self.ctx.requests_in_flight
        return max(1, min(self.max_batch, room))

    def committable(self) -> dict[TopicPartition, int]:
        return dict(self._done)

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, off in offsets.items():
            if self._done.get(tp) == off:
                del self._done[tp]

    async def revoked(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._done.pop(tp, None)

    async def _partitions(self) -> int:
        if not self._results_partitions:
            found = await self.ctx.producer.partitions_for(self.settings.results_topic)
            self._results_partitions = len(found)
        return self._results_partitions

    async def handle(self, batch: dict[TopicPartition, list[Record]]) -> None:
        partitions = await self._partitions()
        planned: list[_Planned] = []
        dead: list[DeadLetter] = []
        for records in batch.values():
            for record in records:
                try:
                    planned.append(self._plan(record, partitions))
                except RequestError as exc:
                    dead.append(self._dead_letter(record, exc))
        settings = self.settings
        # Each request's accepted event is acknowledged before its tasks go out: its aggregator
        # knows it before any of its results.
        await self.send(
            [
                *(
                    Outgoing(
                        topic=settings.results_topic,
                        value=p.accepted.model_dump_json().encode(),
                        key=p.accepted.request_id.encode(),
                        partition=p.partition,
                        headers=p.headers,
                    )
                    for p in planned
                ),
                *(Outgoing(topic=settings.dlq_topic, value=d.model_dump_json().encode()) for d in dead),
            ]
        )
        await self.send(
            [
                Outgoing(
                    topic=settings.tasks_topic(task.connector),
                    value=task.model_dump_json().encode(),
                    key=task.task_id.encode(),
                    headers=headers,
                )
                for p in planned
                for task, headers in zip(p.tasks, p.task_headers, strict=True)
            ]
        )
        for d in dead:
            metrics.dead_letters.add(1, {"graphfetch.dlq.code": d.code})
        for tp, records in batch.items():
            self._done[tp] = records[-1].offset + 1

    def _plan(self, record: Record, partitions: int) -> _Planned:
        settings = self.settings
        event = decode_request(
            record.value,
            max_bytes=settings.max_message_bytes,
            max_fields=settings.max_fields,
            max_keys=settings.max_keys,
        )
        pipeline = self.ctx.store.current(event.pipeline)
        if pipeline is None:
            known = ", ".join(self.ctx.store.names()) or "none"
            if self.ctx.store.was_removed(event.pipeline):
                raise RequestError(
                    f"pipeline '{event.pipeline}' was removed from this cluster (serving: {known})",
                    code="removed_pipeline",
                )
            raise RequestError(
                f"unknown pipeline '{event.pipeline}' (known: {known})", code="unknown_pipeline"
            )
        request_id = event.request_id or derived_request_id(record.topic, record.partition, record.offset)
        with traced(
            f"plan {pipeline.name}",
            context=context_from(record.headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.kafka.destination.partition": record.partition,
                "messaging.kafka.message.offset": record.offset,
                "graphfetch.pipeline": pipeline.name,
                "graphfetch.request_id": request_id,
                "graphfetch.config_version": pipeline.version,
            },
        ) as span:
            plan = plan_request(pipeline, keys=event.keys, fields=event.fields)
            received = now_ms()
            state = RequestState(
                plan, request_id=request_id, received_at_ms=received, deadline_ms=event.deadline_ms
            )
            step = state.start(received)
            partition = results_partition(request_id, partitions)
            tasks = [
                TaskEvent.from_task(t, reply_partition=partition, dispatched_at_ms=received)
                for t in step.tasks
            ]
            task_headers = [
                dispatch_span_headers(node=t.node, task_id=t.task_id, topic=settings.tasks_topic(t.connector))
                for t in tasks
            ]
            for node in step.skipped:
                record_skip(node=node, reason=state.skip_reason(node) or "")
            span.set_attribute("graphfetch.tasks", len(tasks))
            headers = headers_for(span)
        accepted = AcceptedEvent(
            request_id=request_id,
            pipeline=pipeline.name,
            config_version=pipeline.version,
            keys=dict(event.keys),
            fields=list(plan.fields),
            deadline_ms=float(state.deadline_ms or 0),
            received_at_ms=received,
            dispatched=[t.task_id for t in tasks],
            source=RecordCoordinates(topic=record.topic, partition=record.partition, offset=record.offset),
        )
        return _Planned(
            accepted=accepted, partition=partition, tasks=tasks, headers=headers, task_headers=task_headers
        )

    def _dead_letter(self, record: Record, exc: RequestError) -> DeadLetter:
        log.warning("%s -> DLQ (%s): %s", coordinates(record), exc.code, exc)
        value = record.value or b""
        return DeadLetter(
            reason=str(exc),
            code=exc.code,
            source=RecordCoordinates(topic=record.topic, partition=record.partition, offset=record.offset),
            key=base64.b64encode(record.key).decode() if record.key is not None else None,
            value=base64.b64encode(value[:DLQ_VALUE_LIMIT]).decode(),
            value_size=len(value),
            truncated=len(value) > DLQ_VALUE_LIMIT,
            failed_at=iso_ms(now_ms()),
        )
