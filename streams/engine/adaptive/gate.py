"""Admission to a saturated worker by priority: the waiting task with the highest priority goes first.

While fewer than ``capacity`` tasks run, :meth:`PriorityGate.acquire` returns at
once; beyond it, waiters queue in a heap ordered by priority, then by arrival,
so equal priorities keep FIFO order and nobody waits behind a later equal.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time


class PriorityGate:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._running = 0
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def acquire(self, priority: float = 0.0) -> float:
        """Take a slot; returns the milliseconds spent waiting for it."""
        if self._running < self.capacity and not self._waiting:
            self._running += 1
            return 0.0
        started = time.perf_counter()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (-priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot was handed over just as we were cancelled: pass it on
            raise
        return (time.perf_counter() - started) * 1000.0

    def release(self) -> None:
        """Give the slot to the best waiter, or free it."""
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)
                return
        self._running -= 1
