"""What every agent shares: the worker's context and a consumer loop with a lifecycle.

An agent consumes its topics in batches, hands each batch to :meth:`Agent.handle`,
and commits only what :meth:`Agent.committable` says is finished. Subclasses
decide what "finished" means; the loop owns start, stop and the commit cadence.
With exactly-once processing the worker's :class:`TransactionCoordinator` commits
instead, the offsets of every agent together with the records they sent.

Agents send through :meth:`Agent.send` (the policy for a failed send is in
:mod:`streams.runtime.agents.delivery`) and run work that finishes later with
:meth:`Agent.spawn`. Work that fails, in :meth:`Agent.handle` or spawned, stops
the agent and the worker with it: its offsets stay unfinished, and the member
that takes its partitions over replays them from the committed offsets.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord

from streams.engine.adaptive.fetcher import AdaptiveFetcher
from streams.engine.sources import SourcePool
from streams.kafka.factory import make_consumer
from streams.liveconfig.store import PipelineStore
from streams.runtime.agents.delivery import Outgoing, SendRetry, send_all
from streams.runtime.background import keep_going
from streams.runtime.transactions import TransactionCoordinator
from streams.settings import Settings
from streams.telemetry import metrics

log = logging.getLogger(__name__)
Record: TypeAlias = ConsumerRecord[bytes, bytes]
T = TypeVar("T")


@dataclass(kw_only=True)
class AgentContext:
    """What the agents of one worker share."""

    settings: Settings
    producer: AIOKafkaProducer
    store: PipelineStore
    sources: SourcePool
    adaptive: AdaptiveFetcher
    """Every fetch goes through it: execution history and the decisions it drives."""
    requests_in_flight: int = 0
    """Requests this worker's aggregator tracks; its planner stops taking requests at the limit."""
    capacity: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever ``requests_in_flight`` is below ``settings.max_in_flight_requests``."""
    transactions: TransactionCoordinator | None = None
    """Exactly-once: commits offsets in the producer's transactions. None: agents commit themselves."""
    group_instance_id: str | None = None
    """The worker's stable id when its agents join their groups as static members (KIP-345): a
    restarted worker takes its partitions back without a rebalance. None: dynamic members."""
    worker_id: str | None = None
    """Names the agents' consumers (``client_id`` ``graphfetch-<worker id>-<role>``), so that a
    group's members say which worker they are (``graphfetch console``, kafka-consumer-groups)."""

    def track_requests(self, in_flight: int) -> None:
        self.requests_in_flight = in_flight
        if in_flight < self.settings.max_in_flight_requests:
            self.capacity.set()
        else:
            self.capacity.clear()


class AgentState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        agent = self._agent
        stage, agent.stage = agent.stage, f"handing {len(revoked)} partitions over"
        try:
            await agent.revoking(list(revoked))
            try:
                await agent.commit()
            finally:
                await agent.revoked(list(revoked))
        finally:
            agent.stage = stage

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        await self._agent.assigned(list(assigned))


def coordinates(record: Record) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"


class Agent(abc.ABC):
    """A consumer loop: subscribe, handle batches, commit what is finished, stop cleanly."""

    role: str = "agent"
    max_batch: int = 500

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.state = AgentState.NEW
        self.consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self._last_commit = 0.0
        self._position: dict[TopicPartition, int] = {}
        self.jobs: set[asyncio.Task[None]] = set()
        """Spawned work in flight."""
        self._failed_with: BaseException | None = None
        self.stage = "starting"
        """What the agent is doing, named for the log line of a worker whose stop it outlasts."""
        self.send_retry = SendRetry(attempts=ctx.settings.send_attempts)
        """How sends that fail with a retriable error are tried again (``GRAPHFETCH_SEND_ATTEMPTS``)."""

    @abc.abstractmethod
    def topics(self) -> list[str]:
        """Topics this agent consumes."""

    @abc.abstractmethod
    async def handle(self, batch: dict[TopicPartition, list[Record]]) -> None:
        """Process one batch (may start work that finishes later)."""

    @abc.abstractmethod
    def committable(self) -> dict[TopicPartition, int]:
        """Offsets safe to commit now."""

    def committed(self, offsets: dict[TopicPartition, int]) -> None:  # noqa: B027 - optional hook
        """Called after offsets were committed."""

    async def assigned(self, partitions: list[TopicPartition]) -> None:  # noqa: B027 - optional hook
        """Partitions were assigned to this member."""

    async def revoking(self, partitions: list[TopicPartition]) -> None:  # noqa: B027 - optional hook
        """Partitions are about to be taken away: the last commit for them comes next."""

    async def revoked(self, partitions: list[TopicPartition]) -> None:  # noqa: B027 - optional hook
        """Partitions are taken away (after a last commit)."""

    async def before_poll(self) -> None:  # noqa: B027 - optional hook
        """Wait here to apply back-pressure: the loop takes no new records meanwhile."""

    async def idle(self) -> None:  # noqa: B027 - optional hook
        """A poll returned nothing: the agent has caught up with its partitions."""

    async def drain(self, timeout_s: float) -> None:  # noqa: B027 - optional hook
        """Wait (bounded) for work in flight before the last commit."""

    def job_ended(self) -> None:  # noqa: B027 - optional hook
        """A job :meth:`spawn` started ended, and has left :attr:`jobs`."""

    def group_id(self) -> str:
        return f"{self.settings.group_prefix}.{self.role}"

    async def run(self) -> None:
        """Consume until :meth:`stop`; a second call is refused."""
        if self.state is not AgentState.NEW:
            raise RuntimeError(f"{self.role} agent already ran; create a new one")
        self.state = AgentState.RUNNING
        static = {"group_instance_id": self.ctx.group_instance_id} if self.ctx.group_instance_id else {}
        named = {"client_id": f"graphfetch-{self.ctx.worker_id}-{self.role}"} if self.ctx.worker_id else {}
        consumer = make_consumer(self.settings, group_id=self.group_id(), **static, **named)
        self.consumer = consumer
        consumer.subscribe(self.topics(), listener=_Listener(self))
        transactions = self.ctx.transactions
        try:
            await consumer.start()
        except BaseException:  # failed or cancelled (a stop at its timeout) while joining: still close
            keep_going(consumer.stop())
            raise
        if transactions is not None:
            transactions.register(self)
        unregister = metrics.register_gauge("graphfetch.consumer.lag", self.lag)
        self.stage = "consuming"
        try:
            while not self._stopping.is_set():
                await self.before_poll()
                batch = await self._poll(consumer)
                if batch:
                    await self._handle(batch)
                else:
                    await self.idle()
                if transactions is None and self._commit_due():
                    await self.commit()
        finally:
            self.state = AgentState.STOPPING
            self.stage = "draining its work in flight"
            with contextlib.suppress(Exception):
                await self.drain(timeout_s=5.0)
            try:
                self.stage = "committing its last offsets"
                await self.commit()
            finally:
                if transactions is not None:
                    transactions.unregister(self)
                self.stage = "leaving its consumer group"
                unregister()
                try:  # a close cancelled at the worker's stop timeout goes on in the background
                    await asyncio.shield(keep_going(consumer.stop()))
                finally:
                    self.state = AgentState.STOPPED
                    self.stage = "stopped"
        if self._failed_with is not None:
            raise self._failed_with

    async def _handle(self, batch: dict[TopicPartition, list[Record]]) -> None:
        try:
            await self.handle(batch)
        finally:
            if self.ctx.transactions is not None:
                # What handle() sent and marked finished is one unit; the loop's next sends start another.
                self.ctx.transactions.gate.leave()

    def _commit_due(self) -> bool:
        return (time.monotonic() - self._last_commit) * 1000 >= self.settings.commit_interval_ms

    async def unless_stopped(self, work: Awaitable[T]) -> T | None:
        """``work``'s result, or None if the agent is asked to stop first (``work`` is then cancelled)."""
        job = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({job, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not job.done():
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
            return None
        return job.result()

    async def _poll(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[Record]]:
        polled = await self.unless_stopped(consumer.getmany(timeout_ms=200, max_records=self.poll_limit()))
        result: dict[TopicPartition, list[Record]] = polled or {}
        for tp, records in result.items():
            self._position[tp] = records[-1].offset + 1
        return result

    def lag(self) -> list[tuple[float, dict[str, str]]]:
        """Records behind the high watermark per assigned partition (approximate on brokers that
        report the watermark late, such as Tansu after batched writes)."""
        consumer = self.consumer
        if consumer is None:
            return []
        out = []
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            behind = max(0, high - self._position.get(tp, high))
            out.append(
                (float(behind), {"messaging.destination.name": tp.topic, "partition": str(tp.partition)})
            )
        return out

    def poll_limit(self) -> int:
        return self.max_batch

    def offsets_to_commit(self) -> dict[TopicPartition, int]:
        """:meth:`committable` offsets of the partitions this member still owns."""
        consumer = self.consumer
        offsets = self.committable()
        if consumer is None or not offsets:
            return {}
        assigned = consumer.assignment()
        return {tp: off for tp, off in offsets.items() if tp in assigned}

    async def commit(self) -> None:
        """Commit finished offsets: in the worker's transaction (exactly-once), else with the consumer."""
        self._last_commit = time.monotonic()
        if self.ctx.transactions is not None:
            await self.ctx.transactions.commit()
            return
        consumer = self.consumer
        offsets = self.offsets_to_commit()
        if consumer is None or not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            log.warning("%s: commit failed (%s); the work will be replayed, never lost", self.role, exc)
            return
        self.committed(offsets)

    def stop(self) -> None:
        """Ask the loop to finish: stop taking work, drain, commit. Safe to call twice."""
        self._stopping.set()

    # -- sends and spawned work ---------------------------------------------------------

    async def send(self, records: Sequence[Outgoing]) -> None:
        """Send ``records``; return once each is acknowledged. Retriable errors are retried with
        backoff (:attr:`send_retry`); then :class:`SendFailedError` is raised."""
        await send_all(self.ctx.producer, records, retry=self.send_retry, who=self.role)

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """Run ``work`` (which finishes offsets when it is done) beside the loop; if it fails, the
        agent stops (:meth:`fail`)."""
        job = asyncio.create_task(work, name=name)
        self.jobs.add(job)
        job.add_done_callback(self._job_done)
        return job

    async def settle(self, timeout_s: float) -> set[asyncio.Task[None]]:
        """Wait, at most ``timeout_s``, until no spawned work is in flight, work spawned meanwhile
        included; return the jobs still running then."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.jobs and (left := deadline - loop.time()) > 0:
            await asyncio.wait(set(self.jobs), timeout=left)
        return set(self.jobs)

    def _job_done(self, job: asyncio.Task[None]) -> None:
        self.jobs.discard(job)
        self.job_ended()
        if not job.cancelled() and (exc := job.exception()) is not None:
            self.fail(exc, during=job.get_name())

    @property
    def failure(self) -> BaseException | None:
        """The error that stopped the agent (:meth:`fail`), or None."""
        return self._failed_with

    def fail(self, exc: BaseException, *, during: str) -> None:
        """Work failed and left its offsets unfinished: stop the agent, whose :meth:`run` then raises
        ``exc`` and stops the worker, so that a successor replays the work from the committed offsets."""
        if self.state is AgentState.STOPPED:
            log.warning(
                "%s: %s failed after the agent stopped (%r); it will be replayed", self.role, during, exc
            )
            return
        if self._failed_with is None:
            self._failed_with = exc
            log.error("%s: %s failed (%r); stopping the worker", self.role, during, exc)
        self._stopping.set()
