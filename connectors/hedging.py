"""Hedged requests: a second attempt when the first is slower than usual, within a budget.

A slow answer is often bad luck (a GC pause, a cold cache, a busy replica)
rather than a slow request, so asking again after the usual latency (say the
observed p95) and taking whichever answer comes first cuts the tail at the
price of a few extra calls. The price must stay bounded: when a source slows
down as a whole, hedging every call would double its load exactly when it can
least take it. :class:`HedgeBudget` caps hedges to a ratio of calls.

Only idempotent fetches may be hedged; the caller decides which, and when
(:class:`HedgePlan`). :func:`hedged` runs the race for one attempt;
:meth:`connectors.resilience.ResilientSource.call` gives it legs that each take
their own concurrency slot and breaker permit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from connectors.errors import FetchError

T = TypeVar("T")


class HedgeBudget:
    """A token bucket: every primary attempt earns ``ratio`` tokens (up to ``burst``), a hedge spends one.

    Over ``n`` attempts at most ``burst + ratio * n`` hedges are started, so
    the extra load stays near ``ratio`` however slow the source gets. The
    bucket starts full, so the first slow calls can be hedged at once. Not
    thread-safe: share one budget within one event loop.
    """

    def __init__(self, *, ratio: float = 0.05, burst: float = 2.0) -> None:
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f"ratio must be in (0, 1], got {ratio}")
        if burst < 1.0:
            raise ValueError(f"burst must be at least 1 (one hedge), got {burst}")
        self.ratio = ratio
        self.burst = burst
        self._tokens = burst
        self.attempts = 0
        """Primary attempts that earned tokens."""
        self.hedges = 0
        """Hedges the budget allowed."""
        self.refused = 0
        """Hedges the budget refused."""

    @property
    def tokens(self) -> float:
        """Budget left; a hedge needs a whole token, fractions carry over."""
        return self._tokens

    def earn(self) -> None:
        """Account for one primary attempt."""
        self.attempts += 1
        self._tokens = min(self.burst, self._tokens + self.ratio)

    def try_spend(self) -> bool:
        """Take one hedge from the budget; ``False`` (and counted as refused) when it is spent."""
        if self._tokens < 1.0:
            self.refused += 1
            return False
        self._tokens -= 1.0
        self.hedges += 1
        return True

    def __repr__(self) -> str:
        return (
            f"<HedgeBudget ratio={self.ratio} burst={self.burst} tokens={self._tokens:.2f} "
            f"attempts={self.attempts} hedges={self.hedges} refused={self.refused}>"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class HedgePlan:
    """Hedge one call: start a second attempt once the first has run ``after_ms`` without an answer."""

    after_ms: float
    budget: HedgeBudget

    def __post_init__(self) -> None:
        if not self.after_ms > 0:
            raise ValueError(f"after_ms must be positive, got {self.after_ms}")


HedgeRefusal = Literal["budget", "deadline"]
"""Why a slow attempt got no hedge: the budget was spent, or the deadline left less than ``after_ms``."""
LoserFate = Literal["cancelled", "failed", "answered"]
"""What became of the leg whose answer was not used (``answered``: both answered at once)."""


class HedgeObserver(Protocol):
    """Told about every hedging decision, so that each can be explained (span events, lineage)."""

    def hedge_started(self, *, waited_ms: float) -> None: ...

    def hedge_refused(self, *, reason: HedgeRefusal, waited_ms: float) -> None: ...

    def hedge_decided(self, *, hedge_won: bool, latency_ms: float, loser: LoserFate) -> None: ...


async def hedged(
    leg: Callable[[bool], Awaitable[T]],
    *,
    plan: HedgePlan,
    deadline: float | None,
    observer: HedgeObserver,
) -> T:
    """Run ``leg(False)``; if it has not finished after ``plan.after_ms``, race it against ``leg(True)``.

    The first leg to return wins and the other is cancelled. A leg that raises
    a :class:`~connectors.errors.FetchError` leaves the other to finish; when
    both do, the later error is raised. Any other exception is a bug and is
    raised at once. Every leg is finished (cancelled and awaited) on return,
    so none holds a slot or a breaker permit afterwards.
    """
    plan.budget.earn()
    return await _Race(leg, plan=plan, deadline=deadline, observer=observer).run()


class _Race(Generic[T]):
    """One hedged attempt. The primary leg runs in the caller's own task (most attempts answer
    before the hedge is due, and a task of their own would cost more than a local fetch); a timer
    starts the hedge as a task. A hedge that answers first interrupts the primary by cancelling the
    caller's task, and that cancellation is taken back once the primary has unwound, as
    ``asyncio.timeout`` does: a cancellation from outside still goes through."""

    def __init__(
        self,
        leg: Callable[[bool], Awaitable[T]],
        *,
        plan: HedgePlan,
        deadline: float | None,
        observer: HedgeObserver,
    ) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("hedged() must run in an asyncio task")
        self._task = task
        self._leg = leg
        self._plan = plan
        self._deadline = deadline
        self._observer = observer
        self._started = time.monotonic()
        self._hedge: asyncio.Future[T] | None = None
        self._hedge_started = 0.0
        self._primary_over = False
        self._interrupted = False
        self._hedge_answered_at = 0.0

    async def run(self) -> T:
        timer = asyncio.get_running_loop().call_later(self._plan.after_ms / 1000.0, self._due)
        try:
            try:
                value = await self._leg(False)
            except FetchError as exc:
                self._primary_over = True
                if self._interrupted:  # it failed as it was being interrupted
                    self._task.uncancel()
                    return self._hedge_won(exc)
                if self._hedge is None:
                    raise
                return await self._after_primary_failed(exc)
            except asyncio.CancelledError:
                self._primary_over = True
                if self._interrupted and self._task.uncancel() == 0:
                    return self._hedge_won(None)
                raise
            self._primary_over = True
            if self._interrupted:  # the primary answered as it was being interrupted
                self._task.uncancel()
                return self._hedge_won(None)
            hedge = self._hedge
            if hedge is not None:
                self._observer.hedge_decided(
                    hedge_won=False,
                    latency_ms=(time.monotonic() - self._started) * 1000.0,
                    loser=_fate(hedge),
                )
            return value
        finally:
            self._primary_over = True
            timer.cancel()
            if self._hedge is not None:
                await _finish([self._hedge])

    def _due(self) -> None:
        """The primary is slow: start the hedge, unless the deadline or the budget forbids it."""
        if self._primary_over:
            return
        waited_ms = (time.monotonic() - self._started) * 1000.0
        refusal = _refusal(self._plan, self._deadline)
        if refusal is not None:
            self._observer.hedge_refused(reason=refusal, waited_ms=waited_ms)
            return
        self._observer.hedge_started(waited_ms=waited_ms)
        self._hedge_started = time.monotonic()
        hedge = asyncio.ensure_future(self._leg(True))
        hedge.add_done_callback(self._hedge_done)
        self._hedge = hedge

    def _hedge_done(self, hedge: asyncio.Future[T]) -> None:
        """An answer (or a bug) from the hedge stops the primary; a fetch failure leaves it running."""
        if self._primary_over or hedge.cancelled() or isinstance(hedge.exception(), FetchError):
            return
        self._hedge_answered_at = time.monotonic()
        self._interrupted = True
        self._task.cancel()

    def _hedge_won(self, primary_error: FetchError | None) -> T:
        hedge = self._hedge
        assert hedge is not None  # only a started hedge interrupts
        failure = hedge.exception()
        if failure is not None:
            raise failure
        self._observer.hedge_decided(
            hedge_won=True,
            latency_ms=(self._hedge_answered_at - self._hedge_started) * 1000.0,
            loser="failed" if primary_error is not None else "cancelled",
        )
        return hedge.result()

    async def _after_primary_failed(self, primary_error: FetchError) -> T:
        """The primary failed: a hedge that failed before it leaves the primary's error (the
        later one); else the hedge's outcome is the attempt's."""
        hedge = self._hedge
        assert hedge is not None
        if not hedge.done():
            await asyncio.wait([hedge])
        elif hedge.cancelled() or isinstance(hedge.exception(), FetchError):
            raise primary_error
        failure = hedge.exception()
        if failure is not None:
            raise failure  # the later of two failures (or a bug)
        self._observer.hedge_decided(
            hedge_won=True, latency_ms=(time.monotonic() - self._hedge_started) * 1000.0, loser="failed"
        )
        return hedge.result()


def _fate(leg: asyncio.Future[Any]) -> LoserFate:
    if not leg.done():
        return "cancelled"
    return "failed" if leg.cancelled() or leg.exception() is not None else "answered"


def _refusal(plan: HedgePlan, deadline: float | None) -> HedgeRefusal | None:
    """Why no hedge may start now; the deadline is checked first so that it spends no budget."""
    if deadline is not None and (deadline - time.monotonic()) * 1000.0 < plan.after_ms:
        return "deadline"
    if not plan.budget.try_spend():
        return "budget"
    return None


async def _finish(legs: Sequence[asyncio.Future[Any]]) -> None:
    """Cancel the legs still running and wait until they have unwound.

    A losing leg's outcome was already reported by the leg itself (events, the
    breaker); reading it here only keeps asyncio from logging it as never
    retrieved.
    """
    running = [leg for leg in legs if not leg.done()]
    for leg in running:
        leg.cancel()
    if running:
        await asyncio.wait(running)
    for leg in legs:
        if not leg.cancelled():
            leg.exception()
