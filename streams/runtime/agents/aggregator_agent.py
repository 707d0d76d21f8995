"""The aggregator agent: results in; next tasks and the profile out, at the latest at the deadline.

Everything about a request is on one partition of ``graphfetch.results``: its
``accepted`` event, its nodes' results and, once its profile is published, a
``completed`` marker. The committed offset of a partition is the offset of its
oldest unfinished request's ``accepted`` event, so a member that takes over a
partition (after a crash, a rebalance, or lost state) rebuilds every unfinished
request by replaying from there. While replaying, profiles are held back until
the partition is caught up, and a ``completed`` marker met on the way discards
them: a request is answered once. That bookkeeping is a pure
:class:`~streams.runtime.agents.ledger.RequestLedger` per partition; this agent decodes,
drives the state machines and does the sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError
from opentelemetry import context as otel_context
from opentelemetry import trace
from pydantic import ValidationError

from planner import Emission, GraphfetchError, NodeError, Profile, RequestState, Step, Timing, graph_shape
from planner.graph import Plan
from planner.profile import iso_ms
from streams.engine.outcomes import now_ms
from streams.events import AcceptedEvent, CompletedEvent, TaskEvent, results_adapter
from streams.kafka.stableoffsets import ReadCommittedConsumer
from streams.runtime.agents.agent import Agent, AgentContext, Record, coordinates
from streams.runtime.agents.delivery import Outgoing
from streams.runtime.agents.ledger import RequestLedger
from streams.telemetry import metrics
from streams.telemetry.tracing import (
    context_from,
    dispatch_span_headers,
    headers_for,
    record_skip,
    trace_id_of,
    traced,
)

log = logging.getLogger(__name__)
REVOKE_DRAIN_S = 10.0
"""Longest a revocation waits for the aggregator's sends in flight."""
_END_UNKNOWN = 2**63 - 1
"""A partition's end when it could not be had: its answers wait for :meth:`AggregatorAgent.idle`."""


@dataclass
class _Live:
    state: RequestState | None  # None: the request could not be rebuilt; only its failure goes out
    headers: list[tuple[str, bytes]]


_Ledger = RequestLedger[_Live, Emission]


class AggregatorAgent(Agent):
    role = "aggregator"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self._parts: dict[TopicPartition, _Ledger] = {}
        self._deadlines: list[tuple[float, int, str]] = []
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._gauge = metrics.register_gauge("graphfetch.requests.in_flight", self.in_flight)
        self._batch = asyncio.Lock()
        """Held while a batch is handled, and from :meth:`revoking` to :meth:`revoked`: aiokafka calls
        the rebalance listener from its own task, so a revocation could otherwise come mid-batch."""
        self._revoking: set[TopicPartition] = set()
        """Partitions between :meth:`revoking` and :meth:`revoked`: nothing more is sent for them."""
        self._revoking_holds_batch = False

    def topics(self) -> list[str]:
        return [self.settings.results_topic]

    def in_flight(self) -> list[tuple[float, dict[str, str]]]:
        return [(float(self.ctx.requests_in_flight), {})]

    # -- partitions and offsets -------------------------------------------------

    async def assigned(self, partitions: list[TopicPartition]) -> None:
        """Replay each partition up to its end at this moment: the high watermark, past the records
        of transactions still open (under ``read_committed`` the last stable offset can stop before
        ``completed`` markers committed after them, and answers released there would be given
        twice). Where the end cannot be had, answers wait until a poll finds the partition read up
        to its high watermark (:meth:`idle`)."""
        consumer = self.consumer
        ends: dict[TopicPartition, int] = {}
        if consumer is not None and partitions:
            try:
                if isinstance(consumer, ReadCommittedConsumer):
                    ends = await consumer.high_watermarks(partitions)
                else:
                    ends = await consumer.end_offsets(partitions)
            except Exception as exc:  # the hold then ends only at a caught-up poll
                log.warning("aggregator: end offsets of %d partitions not had (%r)", len(partitions), exc)
        for tp in partitions:
            self._parts[tp] = RequestLedger(replay_until=ends.get(tp, _END_UNKNOWN))
        self._ensure_timer()

    async def revoking(self, partitions: list[TopicPartition]) -> None:
        """Before the last commit of ``partitions``: let the batch in hand end, send nothing new for
        them (not even at a deadline), and let the answers and dispatches in flight finish, so that
        each is in that commit (exactly once: in the transaction that commits the offsets). None is
        sent after the partition's new owner began replaying, where its ``completed`` marker could
        come too late to stop a second answer. A request left unanswered is the new owner's to
        answer. The wait is bounded by :data:`REVOKE_DRAIN_S`; what is still in flight then may be
        answered twice."""
        if not self._revoking_holds_batch:
            await self._batch.acquire()  # released by revoked()
            self._revoking_holds_batch = True
        self._revoking.update(partitions)
        pending = await self.settle(REVOKE_DRAIN_S)
        if pending:
            log.warning(
                "aggregator: %d sends still in flight %.0f s into the revocation of %s",
                len(pending),
                REVOKE_DRAIN_S,
                ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions),
            )

    async def revoked(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._parts.pop(tp, None)
        self._revoking.difference_update(partitions)
        if self._revoking_holds_batch:
            self._revoking_holds_batch = False
            self._batch.release()
        self._track()

    def _track(self) -> None:
        self.ctx.track_requests(sum(len(ledger) for ledger in self._parts.values()))

    def committable(self) -> dict[TopicPartition, int]:
        out: dict[TopicPartition, int] = {}
        for tp, ledger in self._parts.items():
            offset = ledger.committable()
            if offset is not None:
                out[tp] = offset
        return out

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            ledger = self._parts.get(tp)
            if ledger is not None:
                ledger.committed(offset)

    # -- events -------------------------------------------------------------------

    async def handle(self, batch: dict[TopicPartition, list[Record]]) -> None:
        async with self._batch:
            for tp, records in batch.items():
                ledger = self._parts.setdefault(tp, RequestLedger())
                for record in records:
                    await self._on_record(tp, ledger, record)
                self._publish_released(tp, ledger, ledger.release())
            self._track()

    async def idle(self) -> None:
        consumer = self.consumer
        for tp, ledger in list(self._parts.items()):
            if not ledger.replaying or consumer is None:
                continue
            # An empty poll right after a rebalance comes before the partition's first fetch:
            # only a partition fetched since its assignment, and delivered up to its high
            # watermark, has caught up (else a completed marker still ahead would be missed).
            high = consumer.highwater(tp) if tp in consumer.assignment() else None
            if high is None:
                continue
            try:
                position = await consumer.position(tp)
            except IllegalStateError:  # unassigned meanwhile: a rebalance
                continue
            if self._parts.get(tp) is ledger and position >= high:
                self._publish_released(tp, ledger, ledger.release(at_end=True))

    async def _on_record(self, tp: TopicPartition, ledger: _Ledger, record: Record) -> None:
        try:
            event = results_adapter.validate_json(record.value or b"")
        except ValidationError as exc:
            log.error("%s: invalid results event, skipped: %s", coordinates(record), exc.errors()[:1])
            ledger.skip(record.offset)
            return
        if isinstance(event, AcceptedEvent):
            await self._on_accepted(tp, ledger, record, event)
            return
        if isinstance(event, CompletedEvent):
            ledger.completed(event.request_id, record.offset)
            return
        live = ledger.result(event.request_id, record.offset)
        if live is None or live.state is None:  # late, duplicate, or for a finished request
            return
        with traced(
            f"aggregate {event.node}",
            context=context_from(record.headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": record.topic,
                "messaging.kafka.destination.partition": record.partition,
                "messaging.kafka.message.offset": record.offset,
                "graphfetch.request_id": event.request_id,
                "graphfetch.node": event.node,
                "graphfetch.outcome": "failed" if event.failure else "ok",
            },
        ):
            step = live.state.apply(event.to_outcome(), now_ms())
            self._after_step(tp, ledger, event.request_id, live, step)

    async def _on_accepted(
        self, tp: TopicPartition, ledger: _Ledger, record: Record, event: AcceptedEvent
    ) -> None:
        rid = event.request_id
        if not ledger.accepted(rid, record.offset):  # a replanned duplicate
            return
        pipeline = self.ctx.store.known_version(event.pipeline, event.config_version)
        if pipeline is None:  # activated by another worker first: its config record is on its way
            pipeline = await self.ctx.store.version(event.pipeline, event.config_version)
        try:
            if pipeline is None:
                raise GraphfetchError(
                    f"pipeline {event.pipeline} version {event.config_version} is unknown to this worker"
                )
            shape = graph_shape(pipeline, event.fields)
        except GraphfetchError as exc:
            log.error(
                "%s: cannot rebuild request %s: %s", coordinates(record), rid, exc, extra={"request_id": rid}
            )
            live = _Live(state=None, headers=list(record.headers or ()))
            ledger.open(rid, record.offset, live)
            self._answer(tp, ledger, rid, live, self._failure(event, str(exc)))
            return
        parent = context_from(record.headers)
        trace_id = trace_id_of(trace.get_current_span(parent))
        state = RequestState(
            Plan(pipeline=pipeline, shape=shape, keys=event.keys),
            request_id=rid,
            received_at_ms=event.received_at_ms,
            deadline_ms=event.deadline_ms,
            trace_id=trace_id,
        )
        live = _Live(state=state, headers=list(record.headers or ()))
        ledger.open(rid, record.offset, live)
        heapq.heappush(self._deadlines, (state.deadline_at_ms, tp.partition, rid))
        if self._deadlines[0][2] == rid:
            self._wake.set()
        token = otel_context.attach(parent)
        try:
            # The planner agent ran the request's start (and reported its skipped nodes).
            self._after_step(tp, ledger, rid, live, state.resume(set(event.dispatched), now_ms()))
        finally:
            otel_context.detach(token)

    def _failure(self, event: AcceptedEvent, reason: str) -> Emission:
        """A failed profile for a request whose pipeline version cannot be had here."""
        current = self.ctx.store.current(event.pipeline)
        now = now_ms()
        profile = Profile(
            request_id=event.request_id,
            pipeline=event.pipeline,
            config_version=event.config_version,
            status="failed",
            keys=event.keys,
            data={},
            errors={"pipeline": NodeError(kind="unknown_version", message=reason)},
            lineage={},
            timing=Timing(
                received_at=iso_ms(event.received_at_ms),
                completed_at=iso_ms(now),
                latency_ms=round(now - event.received_at_ms, 3),
            ),
        )
        topic = current.config.output.topic if current is not None else self.settings.dlq_topic
        return Emission(profile=profile, key=None, topic=topic)

    def _after_step(self, tp: TopicPartition, ledger: _Ledger, rid: str, live: _Live, step: Step) -> None:
        """Act on a step, in the current trace context (spawned sends inherit it); nothing for a
        partition being revoked (its new owner replays the request)."""
        if tp in self._revoking:
            return
        for node in step.skipped:
            reason = live.state.skip_reason(node) if live.state is not None else None
            record_skip(node=node, reason=reason or "")
        if step.tasks:
            self.spawn(self._dispatch(tp, step), name=f"dispatch for {rid}")
        if step.emission is not None and live.state is not None:
            self._answer(tp, ledger, rid, live, step.emission)

    def _answer(self, tp: TopicPartition, ledger: _Ledger, rid: str, live: _Live, emission: Emission) -> None:
        if ledger.answer(rid, emission):  # else held back until the partition is caught up
            self.spawn(self._publish(tp, ledger, rid, live, emission), name=f"publish {rid}")

    def _publish_released(
        self, tp: TopicPartition, ledger: _Ledger, released: list[tuple[str, _Live, Emission]]
    ) -> None:
        if tp in self._revoking:
            return
        for rid, live, emission in released:
            self.spawn(self._publish(tp, ledger, rid, live, emission), name=f"publish {rid}")

    # -- effects --------------------------------------------------------------------

    async def _dispatch(self, tp: TopicPartition, step: Step) -> None:
        settings = self.settings
        records = []
        for task in step.tasks:
            topic = settings.tasks_topic(task.connector)
            event = TaskEvent.from_task(task, reply_partition=tp.partition, dispatched_at_ms=now_ms())
            records.append(
                Outgoing(
                    topic=topic,
                    value=event.model_dump_json().encode(),
                    key=task.task_id.encode(),
                    headers=dispatch_span_headers(node=task.node, task_id=task.task_id, topic=topic),
                )
            )
        await self.send(records)

    async def _publish(
        self, tp: TopicPartition, ledger: _Ledger, rid: str, live: _Live, emission: Emission
    ) -> None:
        settings = self.settings
        profile = emission.profile
        with traced(
            f"publish {profile.pipeline}",
            # A child of what finished the request (its last result, or its deadline) when there is one.
            context=None
            if trace.get_current_span().get_span_context().is_valid
            else context_from(live.headers),
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": emission.topic,
                "graphfetch.pipeline": profile.pipeline,
                "graphfetch.request_id": profile.request_id,
                "graphfetch.config_version": profile.config_version,
                "graphfetch.status": profile.status,
            },
        ) as span:
            headers = headers_for(span)
            await self.send(
                [
                    Outgoing(
                        topic=emission.topic,
                        value=profile.model_dump_json().encode(),
                        key=emission.key.encode() if emission.key is not None else None,
                        headers=headers,
                    )
                ]
            )
        if profile.status != "complete":
            log.info(
                "request %s: %s profile (%s)",
                profile.request_id,
                profile.status,
                ", ".join(f"{k}: {v.kind}" for k, v in profile.errors.items()),
                extra={"request_id": profile.request_id},
            )
        metrics.request_duration.record(
            profile.timing.latency_ms,
            {"graphfetch.pipeline": profile.pipeline, "graphfetch.status": profile.status},
        )
        marker = CompletedEvent(request_id=profile.request_id, status=profile.status)
        await self.send(
            [
                Outgoing(
                    topic=settings.results_topic,
                    value=marker.model_dump_json().encode(),
                    key=profile.request_id.encode(),
                    partition=tp.partition,
                    headers=headers,
                )
            ]
        )
        # The profile is out: the request no longer holds back its partition's commit.
        if ledger.answered(rid):
            self._track()

    # -- deadlines ------------------------------------------------------------------

    def _ensure_timer(self) -> None:
        if self._timer is None or self._timer.done():
            self._timer = asyncio.ensure_future(self._deadline_loop())

    async def _deadline_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            timeout = None
            if self._deadlines:
                timeout = max(0.0, (self._deadlines[0][0] - now_ms()) / 1000.0)
            if timeout is None or timeout > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                continue
            now = now_ms()
            while self._deadlines and self._deadlines[0][0] <= now:
                _, partition, rid = heapq.heappop(self._deadlines)
                self._expire(partition, rid, now)

    def _expire(self, partition: int, rid: str, now: float) -> None:
        for tp, ledger in self._parts.items():
            if tp.partition != partition:
                continue
            live = ledger.get(rid)
            if live is not None and live.state is not None and not live.state.finished:
                with traced(
                    f"deadline {live.state.plan.pipeline.name}",
                    context=context_from(live.headers),
                    attributes={
                        "graphfetch.request_id": rid,
                        "graphfetch.deadline_ms": float(live.state.deadline_ms or 0),
                    },
                ):
                    self._after_step(tp, ledger, rid, live, live.state.expire(now))

    async def drain(self, timeout_s: float) -> None:
        self._gauge()
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        await self.settle(timeout_s)
