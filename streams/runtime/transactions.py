"""Exactly-once processing: one Kafka transaction at a time per worker, holding its sends and offsets.

With ``processing_guarantee: exactly_once`` a worker's agents share one
transactional producer. Every record they send goes into the open transaction;
on the commit interval (and when partitions are revoked, and at shutdown) the
:class:`TransactionCoordinator` adds each agent's finished offsets to it
(``send_offsets_to_transaction`` under the agent's consumer group), commits it,
tells the agents, and begins the next one. Consumers read ``read_committed``,
so a crash leaves nothing half done: output and offsets are committed together
or not at all.

A unit of work is kept whole by a *lease*: an asyncio task that sends holds the
open transaction until it ends (an agent's own consumer loop gives its lease
back after each batch). A commit stops new tasks from entering, waits for the
lease holders to finish, then commits; sends that arrive meanwhile wait for
the next transaction, they never fail. So a profile and its ``completed``
marker, or a request's ``accepted`` event, its tasks and its offset, are never
split across two transactions.

A failed commit aborts the transaction. The agents already acted on what was
aborted (offsets marked finished, requests answered), so their memory no
longer matches the log: the worker stops with :class:`TransactionFailedError`
and its replacement replays from the committed offsets, as after a crash.

Errors::

    GraphfetchError
    ├── TransactionsUnsupportedError   the broker refuses transactional producers
    └── TransactionFailedError         a commit failed; the worker must restart

The transactional id is ``<group prefix>.<worker id>``. A restarted worker with
the same id fences its previous incarnation and aborts its open transaction at
once; with the default random worker id a dead worker's open transaction is
aborted by the broker after the transaction timeout, and until then
``read_committed`` consumers of the partitions it wrote to wait. Zombie
fencing across workers is not available: aiokafka commits offsets without the
consumer group generation (KIP-447), so a worker that stalls past its session
timeout and then resumes can still commit what its successor also commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import IncompatibleBrokerVersion, KafkaError, UnknownError, UnsupportedVersionError
from aiokafka.producer.transaction_manager import TransactionManager
from aiokafka.structs import OffsetAndMetadata, RecordMetadata

from planner.errors import GraphfetchError
from streams.kafka.factory import producer_options
from streams.settings import Settings

__all__ = [
    "OffsetSource",
    "TransactionCoordinator",
    "TransactionFailedError",
    "TransactionGate",
    "TransactionalProducer",
    "TransactionsUnsupportedError",
]

log = logging.getLogger(__name__)

_MIN_TRANSACTION_TIMEOUT_MS = 10_000
_START_TIMEOUT_S = 30.0
# Errors with which a broker answers InitProducerId when it has no transaction support.
_UNSUPPORTED = (UnknownError, UnsupportedVersionError, IncompatibleBrokerVersion)


class TransactionsUnsupportedError(GraphfetchError):
    """The broker refuses transactional producers; the message names the setting to change."""


class TransactionFailedError(GraphfetchError):
    """A transaction could not be committed; the worker stops and replays from committed offsets."""

    retriable = True  # by a new worker process, not in place


class OffsetSource(Protocol):
    """What the coordinator needs of an agent."""

    def group_id(self) -> str: ...

    def offsets_to_commit(self) -> dict[TopicPartition, int]:
        """Finished offsets of partitions still assigned to the agent."""
        ...

    def committed(self, offsets: dict[TopicPartition, int]) -> None: ...


class TransactionGate:
    """Which tasks may send into the open transaction, and when a commit may close it.

    A task enters on its first send and holds a lease until it ends or calls
    :meth:`leave`. :meth:`close` makes newcomers wait and returns once no task
    holds a lease; :meth:`open` lets them in again; :meth:`fail` wakes them
    with an error.
    """

    def __init__(self) -> None:
        self._holders: set[asyncio.Task[Any]] = set()
        self._open = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._failure: BaseException | None = None
        self.used = False
        """Whether anything entered since the last :meth:`open`."""

    @property
    def holders(self) -> int:
        return len(self._holders)

    async def enter(self) -> None:
        """Hold the open transaction for the current task (a no-op if it already does)."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("TransactionGate.enter() must be called from an asyncio task")
        if task in self._holders:
            return
        while not self._open.is_set():
            await self._open.wait()
        if self._failure is not None:
            raise TransactionFailedError(f"the worker's transaction failed: {self._failure}")
        self._holders.add(task)
        self._idle.clear()
        self.used = True
        task.add_done_callback(self._release)

    def leave(self) -> None:
        """The current task's unit of work is complete: give its lease back."""
        task = asyncio.current_task()
        if task is not None and task in self._holders:
            task.remove_done_callback(self._release)
            self._release(task)

    def _release(self, task: asyncio.Task[Any]) -> None:
        self._holders.discard(task)
        if not self._holders:
            self._idle.set()

    async def close(self, *, timeout_s: float) -> None:
        """Stop new tasks from entering and wait until none holds a lease."""
        self._open.clear()
        async with asyncio.timeout(timeout_s):
            await self._idle.wait()

    def open(self) -> None:
        self.used = False
        self._open.set()

    def fail(self, exc: BaseException) -> None:
        """Every task waiting to enter, and every later one, raises :class:`TransactionFailedError`."""
        self._failure = exc
        self._open.set()


class _EveryGroupTransactionManager(TransactionManager):  # type: ignore[misc]
    """aiokafka's transaction manager, adding *every* consumer group of a transaction to it.

    aiokafka 0.14 sends AddOffsetsToTxn for the first group whose offsets join
    a transaction only, then TxnOffsetCommit for each group. A worker commits
    the offsets of three groups (planner, connector, aggregator) in one
    transaction, so the others' ``__consumer_offsets`` partitions were never
    added to it. Brokers without KIP-890 verification took the commits anyway;
    Apache Kafka 3.6 and later verify them and answer INVALID_TXN_STATE, which
    failed every exactly-once worker on the second group's commit. Here a group
    is committed to only after its own AddOffsetsToTxn.
    """

    _added_groups: set[str]

    def consumer_group_to_add(self) -> str | None:
        for group_id, _, _ in self._pending_txn_offsets:
            return None if group_id in self._added_groups else str(group_id)
        return None

    def offsets_to_commit(self) -> tuple[Any, str] | None:
        for group_id, offsets, _ in self._pending_txn_offsets:
            return (offsets, group_id) if group_id in self._added_groups else None
        return None

    def consumer_group_added(self, group_id: str) -> None:
        super().consumer_group_added(group_id)
        self._added_groups.add(group_id)

    def complete_transaction(self) -> None:
        self._added_groups.clear()
        super().complete_transaction()

    def error_transaction(self, exc: BaseException) -> None:
        self._added_groups.clear()
        super().error_transaction(exc)

    def fatal_error(self, exc: BaseException) -> None:
        self._added_groups.clear()
        super().fatal_error(exc)


class TransactionalProducer(AIOKafkaProducer):  # type: ignore[misc]
    """An AIOKafkaProducer whose sends enter the worker's open transaction first (waiting out a commit)."""

    def __init__(self, gate: TransactionGate, **options: Any) -> None:
        super().__init__(**options)
        self._gate = gate
        # The producer built its manager and handed it to its sender; the same
        # object takes the behaviour that adds every group (see the class).
        manager = self._txn_manager
        manager.__class__ = _EveryGroupTransactionManager
        manager._added_groups = set()

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[RecordMetadata]:
        await self._gate.enter()
        future: asyncio.Future[RecordMetadata] = await super().send(
            topic, value, key=key, partition=partition, timestamp_ms=timestamp_ms, headers=headers
        )
        return future


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    FAILED = "failed"
    CLOSED = "closed"


class TransactionCoordinator:
    """A worker's transactional producer and its commit cycle (see the module docstring)."""

    def __init__(self, settings: Settings, *, worker_id: str) -> None:
        self.settings = settings
        self.transactional_id = f"{settings.group_prefix}.{worker_id}"
        self.transaction_timeout_ms = max(_MIN_TRANSACTION_TIMEOUT_MS, 10 * settings.commit_interval_ms)
        self.gate = TransactionGate()
        self.producer = TransactionalProducer(
            self.gate,
            **producer_options(
                settings,
                transactional_id=self.transactional_id,
                enable_idempotence=True,
                transaction_timeout_ms=self.transaction_timeout_ms,
            ),
        )
        self.commits = 0
        """Transactions committed."""
        self.offsets_committed = 0
        """Partition offsets committed within them (one per agent group and partition each time)."""
        self._sources: list[OffsetSource] = []
        self._state = _State.NEW
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._failure: BaseException | None = None

    async def start(self) -> None:
        """Start the producer (the broker grants it a producer id) and begin the first transaction."""
        bootstrap = self.settings.bootstrap
        try:
            async with asyncio.timeout(_START_TIMEOUT_S):
                await self.producer.start()
        except _UNSUPPORTED as exc:
            await self.producer.stop()
            raise TransactionsUnsupportedError(
                f"the broker at {bootstrap} does not support transactions (InitProducerId: {exc!r}): "
                "set GRAPHFETCH_PROCESSING_GUARANTEE=at_least_once"
            ) from None
        except TimeoutError:
            await self.producer.stop()
            raise TransactionsUnsupportedError(
                f"the broker at {bootstrap} granted no transactional producer id within "
                f"{_START_TIMEOUT_S:g} s (is its transaction state topic available?): "
                "fix the broker or set GRAPHFETCH_PROCESSING_GUARANTEE=at_least_once"
            ) from None
        await self.producer.begin_transaction()
        self._state = _State.RUNNING
        self.gate.open()
        log.info("exactly-once processing: transactional id %s", self.transactional_id)

    def register(self, source: OffsetSource) -> None:
        self._sources.append(source)

    def unregister(self, source: OffsetSource) -> None:
        with contextlib.suppress(ValueError):
            self._sources.remove(source)

    async def commit(self) -> None:
        """Commit the open transaction with every agent's finished offsets, then begin the next.

        Does nothing when nothing was sent or finished, or once the coordinator failed or closed.
        Raises :class:`TransactionFailedError` when this commit fails.
        """
        async with self._lock:
            if self._state is not _State.RUNNING:
                return
            try:
                await self.gate.close(timeout_s=self.transaction_timeout_ms / 2000)
                batches = [(s, s.offsets_to_commit()) for s in list(self._sources)]
                batches = [(s, offsets) for s, offsets in batches if offsets]
                if not batches and not self.gate.used:
                    self.gate.open()
                    return
                producer = self.producer
                for source, offsets in batches:
                    await producer.send_offsets_to_transaction(
                        {tp: OffsetAndMetadata(off, "") for tp, off in offsets.items()}, source.group_id()
                    )
                await producer.commit_transaction()
            except (KafkaError, TimeoutError) as exc:
                await self._fail(exc)
                raise TransactionFailedError(
                    f"committing transaction {self.transactional_id} failed ({exc!r}); the worker stops "
                    "so that a new one replays from the committed offsets"
                ) from exc
            self.commits += 1
            self.offsets_committed += sum(len(offsets) for _, offsets in batches)
            for source, offsets in batches:
                source.committed(offsets)
            await self.producer.begin_transaction()
            self.gate.open()

    async def _fail(self, exc: BaseException) -> None:
        self._state = _State.FAILED
        self._failure = exc
        self.gate.fail(exc)
        self._wake.set()
        with contextlib.suppress(KafkaError, TimeoutError):
            async with asyncio.timeout(self.transaction_timeout_ms / 1000):
                await self.producer.abort_transaction()

    async def run(self) -> None:
        """Commit every ``commit_interval_ms`` until :meth:`stop`; raises if a commit failed."""
        interval_s = self.settings.commit_interval_ms / 1000
        while self._state is _State.RUNNING:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval_s)
            if self._wake.is_set():
                break
            await self.commit()
        if self._failure is not None:
            raise TransactionFailedError(
                f"transaction {self.transactional_id} failed ({self._failure!r}); "
                "restart the worker to replay from the committed offsets"
            ) from self._failure

    def stop(self) -> None:
        """End :meth:`run` (the next :meth:`close` commits one last time). Safe to call twice."""
        self._wake.set()

    async def close(self) -> None:
        """Commit what is finished (or abort after a failure), then stop the producer. Safe to call twice."""
        if self._state is _State.CLOSED:
            return
        self.stop()
        if self._state is _State.RUNNING:
            with contextlib.suppress(TransactionFailedError):
                await self.commit()
        if self._state is _State.RUNNING:
            # Sends after the last commit (none once the agents stopped) are not kept half-open.
            with contextlib.suppress(KafkaError, TimeoutError):
                async with asyncio.timeout(self.transaction_timeout_ms / 1000):
                    await self.producer.abort_transaction()
        self._state = _State.CLOSED
        await self.producer.stop()
