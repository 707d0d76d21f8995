"""Reading a whole topic in the background: every record, by request id, with a wait on a condition.

What the tests, ``graphfetch chaos`` and operators' scripts use to count
profiles, dead letters and results. The topic is read from its beginning
without a consumer group, so nothing is missed whatever the broker reports as
end offsets.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from streams.kafka import make_consumer
from streams.settings import Settings


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

    def __init__(self, *, settings: Settings, topic: str, partitions: int) -> None:
        self.topic = topic
        self._settings = settings
        self._partitions = partitions
        self._changed = asyncio.Condition()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = make_consumer(self._settings, group_id=None)
        await consumer.start()
        self._consumer = consumer
        tps = [TopicPartition(self.topic, p) for p in range(self._partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._read(consumer), name=f"collect:{self.topic}")

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=200)
                if not batch:
                    continue
                for records in batch.values():
                    for record in records:
                        self._add(record)
                async with self._changed:
                    self._changed.notify_all()
        finally:
            async with self._changed:  # wake waiters so they see the reader is gone
                self._changed.notify_all()

    @abc.abstractmethod
    def _add(self, record: ConsumerRecord[bytes, bytes]) -> None:
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
        if self._consumer is not None:
            await self._consumer.stop()


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
