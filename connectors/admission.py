"""Admission to a source's adaptive concurrency limit: earliest deadline first, hopeless waiters shed.

While fewer attempts than the limit are in flight and nobody waits,
:meth:`Admission.try_acquire` takes a slot at once: no future, no timer (the
path of almost every attempt). Otherwise :meth:`Admission.acquire` queues the
caller in a heap ordered by deadline (earliest first; no deadline last; FIFO
among equals), and each freed slot goes to the head of the queue.

A waiter that can no longer meet its deadline, because the deadline minus the
source's expected latency (:attr:`AdaptiveLimit.expected_ms`, 0 before the
first window) has passed, is *shed*: it raises
:class:`~connectors.errors.LoadShed` at once rather than take a slot for a
fetch that cannot finish in time. That is checked when it arrives, when it
reaches the head of the queue, and by a timer of its own at that moment.

Waiting happens before the attempt and its timeout start, and the breaker never
hears of it. Each admitted attempt holds a :data:`Ticket`; its outcome goes back
through :meth:`Admission.record` (to the limit) and its slot through
:meth:`Admission.release`. The queue holds at most the callers in flight, which
the runtime bounds (``GRAPHFETCH_MAX_IN_FLIGHT_TASKS``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from connectors.errors import LoadShed
from connectors.limiter import AdaptiveLimit, Drop, LimitChange

Ticket = tuple[int, bool]
"""An admitted attempt's (epoch, busy) at admission: what :meth:`AdaptiveLimit.sample` needs."""


@dataclass(slots=True)
class _Waiter:
    deadline: float
    has_deadline: bool
    since: float
    future: asyncio.Future[Ticket]
    timer: asyncio.TimerHandle | None = None
    resolved: bool = False
    """Granted, shed or cancelled: no longer waiting (the heap drops it lazily)."""


class Admission:
    """The slots of one source's :class:`~connectors.limiter.AdaptiveLimit`, granted earliest deadline first."""

    def __init__(
        self, limit: AdaptiveLimit, *, source: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.source = source
        self._clock = clock
        self.in_flight = 0
        """Attempts holding a slot."""
        self.shed = 0
        """Waiters shed so far."""
        self._queue: list[tuple[float, int, _Waiter]] = []
        """(deadline, arrival, waiter): a heap, earliest deadline first, then first come."""
        self._waiting = 0
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        """Callers queued for a slot."""
        return self._waiting

    def try_acquire(self) -> Ticket | None:
        """A slot if one is free and nobody waits for it, else ``None`` (then :meth:`acquire`)."""
        limit = self.limit
        in_flight = self.in_flight + 1
        if in_flight > limit.limit or self._waiting:
            return None
        self.in_flight = in_flight
        return limit.epoch, 2 * in_flight >= limit.limit  # limit.is_busy(), inline: every attempt

    async def acquire(self, deadline: float | None) -> Ticket:
        """Wait for a slot, earliest deadline first (``deadline`` on this admission's clock);
        raises :class:`LoadShed` as soon as the deadline is out of reach."""
        ticket = self.try_acquire()
        if ticket is not None:
            return ticket
        now = self._clock()
        if deadline is not None and now >= deadline - self._expected_s():
            raise self._shed_error(deadline=deadline, since=now, now=now)
        waiter = _Waiter(
            deadline=math.inf if deadline is None else deadline,
            has_deadline=deadline is not None,
            since=now,
            future=asyncio.get_running_loop().create_future(),
        )
        heapq.heappush(self._queue, (waiter.deadline, next(self._order), waiter))
        self._waiting += 1
        if deadline is not None:
            self._arm(waiter, now)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if not waiter.resolved:
                self._resolve(waiter)
            elif not waiter.future.cancelled() and waiter.future.exception() is None:
                self.release()  # granted just as the caller was cancelled: pass the slot on
            raise

    def record(self, ticket: Ticket, latency_ms: float, *, drop: Drop | None = None) -> LimitChange | None:
        """An admitted attempt finished; the limit learns from it (call before :meth:`release`)."""
        return self.limit.sample(latency_ms, epoch=ticket[0], busy=ticket[1], drop=drop)

    def stale(self, ticket: Ticket) -> bool:
        """Whether the limit has been cut since this attempt was admitted: it was admitted while
        graphfetch overloaded the source."""
        return ticket[0] != self.limit.epoch

    def release(self) -> None:
        """Free an attempt's slot; the head of the queue gets it (and any slot a raised limit made)."""
        self.in_flight -= 1
        if self._waiting:
            self._hand_out()

    def _hand_out(self) -> None:
        limit = self.limit
        while self._waiting and self.in_flight < limit.limit:
            waiter = heapq.heappop(self._queue)[2]
            if not self._take(waiter):
                continue
            now = self._clock()
            if waiter.has_deadline and now >= waiter.deadline - self._expected_s():
                waiter.future.set_exception(
                    self._shed_error(deadline=waiter.deadline, since=waiter.since, now=now)
                )
                continue
            self.in_flight += 1
            waiter.future.set_result((limit.epoch, limit.is_busy(self.in_flight)))

    def _arm(self, waiter: _Waiter, now: float) -> None:
        delay = waiter.deadline - self._expected_s() - now
        waiter.timer = asyncio.get_running_loop().call_later(max(0.0, delay), self._due, waiter)

    def _due(self, waiter: _Waiter) -> None:
        """A waiter's timer: shed it if its deadline is now out of reach, else look again later
        (the expected latency may have fallen since it was armed)."""
        if waiter.resolved or waiter.future.done():
            return
        now = self._clock()
        if now < waiter.deadline - self._expected_s():
            self._arm(waiter, now)
            return
        self._resolve(waiter)
        waiter.future.set_exception(self._shed_error(deadline=waiter.deadline, since=waiter.since, now=now))
        if len(self._queue) > 2 * self._waiting + 64:  # shed waiters linger in the heap: drop them
            self._queue = [entry for entry in self._queue if not entry[2].resolved]
            heapq.heapify(self._queue)

    def _take(self, waiter: _Waiter) -> bool:
        """Take a waiter off the queue to grant or shed it; ``False`` if it is gone already: resolved,
        or cancelled by its caller, whose task has not yet run to say so (it then finds it resolved)."""
        if waiter.resolved:
            return False
        self._resolve(waiter)
        return not waiter.future.done()

    def _resolve(self, waiter: _Waiter) -> None:
        waiter.resolved = True
        self._waiting -= 1
        if waiter.timer is not None:
            waiter.timer.cancel()

    def _expected_s(self) -> float:
        expected = self.limit.expected_ms
        return 0.0 if expected is None else expected / 1000.0

    def _shed_error(self, *, deadline: float, since: float, now: float) -> LoadShed:
        self.shed += 1
        waited_ms = (now - since) * 1000.0
        left_ms = max(0.0, (deadline - now) * 1000.0)
        expected_ms = self._expected_s() * 1000.0
        why = (
            f"{left_ms:.0f} ms left before the deadline, less than the {expected_ms:.0f} ms the source takes now"
            if expected_ms
            else "the deadline passed"
        )
        message = (
            f"shed after waiting {waited_ms:.0f} ms for a slot of the source's concurrency limit "
            f"({self.limit.limit} at once): {why}"
        )
        return LoadShed(
            message, source=self.source, waited_ms=waited_ms, left_ms=left_ms, expected_ms=expected_ms
        )
