"""Reading a whole topic without a consumer group: the one way graphfetch does it.

:class:`WholeTopic` reads every partition of a topic (or those named) from its
beginning, or from a time, in batches. It is the reader of the config topic
(history and live follow), the stats topic, ``graphfetch tail`` and
the public client (:mod:`streams.client`), and of the background collectors below that
the tests, ``graphfetch chaos`` and the bench count profiles with. A read
without ``idle_s`` follows the topic for ever; with it, it ends once no record
came for that long: end offsets are not trusted (not every broker reports
them right).

One error policy for all of them: a retriable broker error (a leader moving,
a coordinator loading, a lost connection) is logged and the fetch retried
after a second; any other error ends the read and is raised to its owner.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from streams.kafka.factory import make_consumer
from streams.settings import Settings

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]

_POLL_MS = 200
_RETRY_S = 1.0
_TOPIC_WAIT_S = 10.0


class WholeTopic:
    """``async with WholeTopic(settings, topic) as topic``: a group-less consumer assigned every partition.

    ``partitions`` names them when known; otherwise they are asked of the
    broker (waiting up to 10 s for the topic to exist). ``since_ms`` starts
    each partition at its first record from then, where the broker can say.
    ``consumer_options`` override the consumer's settings (a gentler
    ``fetch_max_wait_ms`` for a quiet topic, say).
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        *,
        partitions: Iterable[int] | None = None,
        since_ms: int | None = None,
        poll_ms: int = _POLL_MS,
        **consumer_options: Any,
    ) -> None:
        self.topic = topic
        self._settings = settings
        self._partitions = None if partitions is None else sorted(partitions)
        self._since_ms = since_ms
        self._poll_ms = poll_ms
        self._options = consumer_options
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> WholeTopic:
        consumer = make_consumer(self._settings, group_id=None, **self._options)
        try:
            await consumer.start()
            tps = await self._assign(consumer)
            await self._seek(consumer, tps)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def batches(self, *, idle_s: float | None = None) -> AsyncIterator[list[Record]]:
        """Each fetched batch (in each partition's order); with ``idle_s``, end once quiet that long."""
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("enter the WholeTopic (async with) before reading it")
        quiet_since = time.monotonic()
        while True:
            wait_ms = self._poll_ms
            if idle_s is not None:  # never wait past the end of the quiet period
                quiet_left_ms = (quiet_since + idle_s - time.monotonic()) * 1000
                wait_ms = max(1, min(wait_ms, int(quiet_left_ms)))
            try:
                fetched = await consumer.getmany(timeout_ms=wait_ms)
            except KafkaError as exc:
                if not exc.retriable:
                    raise
                log.warning("reading %s: %r; retrying in %g s", self.topic, exc, _RETRY_S)
                await asyncio.sleep(_RETRY_S)  # a back-off, not a synchronisation
                continue
            records = [record for partition in fetched.values() for record in partition]
            if records:
                quiet_since = time.monotonic()
                yield records
            elif idle_s is not None and time.monotonic() - quiet_since >= idle_s:
                return

    async def _assign(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        partitions = self._partitions
        deadline = time.monotonic() + _TOPIC_WAIT_S
        while partitions is None:
            known = consumer.partitions_for_topic(self.topic)
            if known:
                partitions = sorted(known)
            elif time.monotonic() > deadline:
                raise TimeoutError(
                    f"topic {self.topic} does not exist (no partitions after {_TOPIC_WAIT_S:g} s)"
                )
            else:
                await consumer._client.force_metadata_update()
                await asyncio.sleep(0.1)  # metadata has no notification; ask again shortly
        tps = [TopicPartition(self.topic, p) for p in partitions]
        consumer.assign(tps)
        return tps

    async def _seek(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        await consumer.seek_to_beginning(*tps)
        if self._since_ms is None:
            return
        try:
            found = await consumer.offsets_for_times(dict.fromkeys(tps, self._since_ms))
        except KafkaError:
            return  # the broker cannot say: from the beginning
        for tp, hit in found.items():
            if hit is not None:
                consumer.seek(tp, hit.offset)


@dataclass(frozen=True, kw_only=True)
class Received:
    """One record of a collected topic, its value decoded from JSON."""

    key: bytes | None
    value: dict[str, Any]
    partition: int
    offset: int
    timestamp_ms: int  # the record's Kafka timestamp (set by the producer)
    arrived: float  # time.monotonic() when the collector read it


class TopicReader(abc.ABC):
    """Reads every partition of a topic from the beginning, without a group, in the background;
    subclasses decide what to keep of each record in :meth:`_add`."""

    def __init__(
        self, *, settings: Settings, topic: str, partitions: int | None, since_ms: int | None = None
    ) -> None:
        """``partitions`` None: the broker's count; ``since_ms``: from each partition's first record
        written then (see :class:`WholeTopic`)."""
        self.topic = topic
        self._settings = settings
        self._partitions = partitions
        self._since_ms = since_ms
        self._changed = asyncio.Condition()
        self._reader: WholeTopic | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        partitions = None if self._partitions is None else range(self._partitions)
        reader = WholeTopic(self._settings, self.topic, partitions=partitions, since_ms=self._since_ms)
        await reader.__aenter__()
        self._reader = reader
        self._task = asyncio.create_task(self._read(reader), name=f"collect:{self.topic}")

    async def _read(self, reader: WholeTopic) -> None:
        try:
            async for records in reader.batches():
                for record in records:
                    self._add(record)
                async with self._changed:
                    self._changed.notify_all()
        finally:
            async with self._changed:  # wake waiters so they see the reader is gone
                self._changed.notify_all()

    @abc.abstractmethod
    def _add(self, record: Record) -> None:
        """One record, in the order of its partition; called on the reader's task."""

    def failure(self) -> BaseException | None:
        """The reader's error if it stopped, else None."""
        task = self._task
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception()

    async def wait_until(self, predicate: Callable[[], bool], *, timeout_s: float) -> bool:
        """Wait until ``predicate()`` holds (re-checked after every batch); False after the timeout."""
        task = self._task
        if task is None:
            raise RuntimeError("start() the reader first")
        try:
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(lambda: predicate() or task.done())
        except TimeoutError:
            return False
        if task.done() and not predicate():
            task.result()  # the reader failed: raise its error
            raise RuntimeError(f"the reader of {self.topic} stopped")
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._reader is not None:
            await self._reader.__aexit__(None, None, None)


class TopicCollector(TopicReader):
    """Keeps every record of the topic, and its records by request id."""

    def __init__(self, *, settings: Settings, topic: str, partitions: int) -> None:
        super().__init__(settings=settings, topic=topic, partitions=partitions)
        self.received: list[Received] = []
        self.by_request_id: dict[str, list[Received]] = {}

    def _add(self, record: ConsumerRecord[bytes, bytes]) -> None:
        decoded = json.loads(record.value) if record.value else {}
        item = Received(
            key=record.key,
            value=decoded,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=record.timestamp,
            arrived=time.monotonic(),
        )
        self.received.append(item)
        request_id = decoded.get("request_id") if isinstance(decoded, dict) else None
        if isinstance(request_id, str):
            self.by_request_id.setdefault(request_id, []).append(item)

    def count(self, ids: Iterable[str]) -> int:
        """How many of ``ids`` have at least one record."""
        return sum(1 for i in ids if i in self.by_request_id)

    def duplicates(self, ids: Iterable[str]) -> dict[str, int]:
        """Request ids among ``ids`` with more than one record, and how many each has."""
        return {i: n for i in ids if (n := len(self.by_request_id.get(i, ()))) > 1}

    async def wait_for(self, ids: Iterable[str], *, timeout_s: float) -> bool:
        """Wait until every one of ``ids`` has a record; False after the timeout."""
        wanted = list(ids)
        return await self.wait_until(lambda: self.count(wanted) == len(wanted), timeout_s=timeout_s)
