"""Which offsets are safe to commit when records finish out of order.

A record's offset is committed only once it and every record before it in its
partition are finished (their effects published), so a crash replays exactly
the unfinished work. Kafka's committed offset is the *next* offset to read.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from aiokafka import TopicPartition


class PartitionOffsets:
    """In-flight offsets of one partition."""

    def __init__(self) -> None:
        self._pending: list[int] = []  # min-heap of started, unfinished offsets
        self._finished: set[int] = set()
        self._next = -1  # one past the highest offset started
        self._committed = -1

    def start(self, offset: int) -> None:
        heapq.heappush(self._pending, offset)
        self._next = max(self._next, offset + 1)

    def finish(self, offset: int) -> None:
        self._finished.add(offset)
        while self._pending and self._pending[0] in self._finished:
            self._finished.discard(heapq.heappop(self._pending))

    def committable(self) -> int | None:
        """The offset to commit now, or None if nothing new is safe to commit."""
        if self._next < 0:
            return None
        safe = self._pending[0] if self._pending else self._next
        return safe if safe > self._committed else None

    def committed(self, offset: int) -> None:
        self._committed = max(self._committed, offset)


class OffsetTracker:
    """Per-partition offset tracking for one consumer."""

    def __init__(self) -> None:
        self._parts: dict[TopicPartition, PartitionOffsets] = {}

    def start(self, tp: TopicPartition, offset: int) -> None:
        self._parts.setdefault(tp, PartitionOffsets()).start(offset)

    def finish(self, tp: TopicPartition, offset: int) -> None:
        part = self._parts.get(tp)
        if part is not None:
            part.finish(offset)

    def committable(self) -> dict[TopicPartition, int]:
        out: dict[TopicPartition, int] = {}
        for tp, part in self._parts.items():
            offset = part.committable()
            if offset is not None:
                out[tp] = offset
        return out

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            part = self._parts.get(tp)
            if part is not None:
                part.committed(offset)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self._parts.pop(tp, None)
