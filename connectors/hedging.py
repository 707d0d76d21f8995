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
from typing import Any, Literal, Protocol, TypeVar

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
    started = time.monotonic()
    primary = asyncio.ensure_future(leg(False))
    legs = [primary]
    try:
        done, _ = await asyncio.wait(legs, timeout=plan.after_ms / 1000.0)
        if done:
            return primary.result()
        waited_ms = (time.monotonic() - started) * 1000.0
        refusal = _refusal(plan, deadline)
        if refusal is not None:
            observer.hedge_refused(reason=refusal, waited_ms=waited_ms)
            return await primary
        observer.hedge_started(waited_ms=waited_ms)
        hedge = asyncio.ensure_future(leg(True))
        legs.append(hedge)
        return await _race(primary, hedge, started=(started, time.monotonic()), observer=observer)
    finally:
        await _finish(legs)


def _refusal(plan: HedgePlan, deadline: float | None) -> HedgeRefusal | None:
    """Why no hedge may start now; the deadline is checked first so that it spends no budget."""
    if deadline is not None and (deadline - time.monotonic()) * 1000.0 < plan.after_ms:
        return "deadline"
    if not plan.budget.try_spend():
        return "budget"
    return None


async def _race(
    primary: asyncio.Future[T],
    hedge: asyncio.Future[T],
    *,
    started: tuple[float, float],
    observer: HedgeObserver,
) -> T:
    """Take the legs in the order they finished (done callbacks run in that order), not as ``wait`` returns them."""
    finished: asyncio.Queue[asyncio.Future[T]] = asyncio.Queue()
    for leg in (primary, hedge):
        leg.add_done_callback(finished.put_nowait)
    failures: list[FetchError] = []
    while len(failures) < 2:
        leg = await finished.get()
        failure = leg.exception()
        if isinstance(failure, FetchError):
            failures.append(failure)
            continue
        if failure is not None:
            raise failure
        other = hedge if leg is primary else primary
        loser: LoserFate = (
            "cancelled" if not other.done() else ("failed" if other.exception() else "answered")
        )
        latency_ms = (time.monotonic() - (started[1] if leg is hedge else started[0])) * 1000.0
        observer.hedge_decided(hedge_won=leg is hedge, latency_ms=latency_ms, loser=loser)
        return leg.result()
    raise failures[-1]


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
