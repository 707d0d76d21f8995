"""One source behind its timeout, retries, circuit breaker and concurrency limit.

:class:`ResilientSource` wraps one started :class:`~connectors.base.Connector`.
Each attempt of :meth:`ResilientSource.call`:

1. waits for a slot of the source's concurrency limit, so a slow source queues
   its callers instead of opening ever more connections. The limit is adaptive
   by default (:mod:`connectors.limiter`, learned from the attempts' latency)
   and its waiters are served earliest deadline first, a waiter that can no
   longer meet its deadline being shed with ``LoadShed``
   (:mod:`connectors.admission`); with ``limits: {adaptive: false}`` it is a
   fixed FIFO ``asyncio.Semaphore`` whose wait is bounded by the deadline;
2. asks the source's :class:`~connectors.breaker.CircuitBreaker` for a permit
   (an open breaker fails at once with ``CircuitOpen``);
3. runs ``connector.fetch`` under ``timeout_ms`` (and the deadline).

The breaker counts an attempt's timeout as the source's failure unless it is
graphfetch's own doing: an attempt cut short by the request's deadline (the
source did not exceed its timeout, the request ran out of time), or one
admitted before the adaptive limit was last cut (it was admitted while
graphfetch overloaded the source, and the cut has already answered that).

With a :class:`~connectors.hedging.HedgePlan`, an attempt still unanswered
after ``after_ms`` gets a concurrent twin (a *hedge*) through the same three
steps, if the plan's budget and the deadline allow; the first answer wins and
the other leg is cancelled, which the breaker does not count as a failure.

Retries are driven by tenacity with :class:`~connectors.retry.RetryPolicy`;
a slot is held only during an attempt, never during a backoff. Most calls
succeed at once, so the first attempt runs without tenacity (building its
machinery costs more than a local fetch); tenacity takes over when a retry is
due, replaying the first failure so waits, stops and events are the same.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from connectors.admission import Admission, Ticket
from connectors.base import Connector
from connectors.breaker import CircuitBreaker, Outcome
from connectors.errors import (
    CircuitOpen,
    ConnectorNotReady,
    FetchError,
    FetchErrorKind,
    FetchTimeout,
    InvalidRequest,
    LoadShed,
    RateLimited,
)
from connectors.generic_settings import breaker_settings, limit_settings
from connectors.hedging import HedgePlan, HedgeRefusal, LoserFate, hedged
from connectors.limiter import AdaptiveLimit, Drop
from connectors.retry import RetryPolicy

AttemptKind = Literal[
    "attempt_start",
    "attempt_failed",
    "retry_scheduled",
    "breaker_rejected",
    "succeeded",
    "hedge_started",
    "hedge_refused",
    "hedge_won",
    "hedge_lost",
    "shed",
    "limit_changed",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class FetchOutcome:
    """A successful call: the value and what it took."""

    value: Any
    attempts: int
    """Upstream attempts made, hedges included."""
    latency_ms: float
    hedges: int = 0
    """Hedges started (at most one per try)."""
    hedges_refused: int = 0
    """Tries that were slow enough to hedge but whose hedge was refused (budget or deadline)."""
    hedge_won: bool = False
    """The value came from a hedge, not from the attempt it doubled."""
    hedge_after_ms: float | None = None
    """The plan's delay, when the call had a hedge plan."""

    @property
    def hedged(self) -> bool:
        """At least one hedge was started."""
        return self.hedges > 0


@dataclass(frozen=True, kw_only=True, slots=True)
class AttemptEvent:
    """Something that happened during a call; the runtime turns these into span events."""

    kind: AttemptKind
    attempt: int
    error_kind: FetchErrorKind | None = None
    message: str | None = None
    delay_ms: float | None = None
    latency_ms: float | None = None
    hedge: bool = False
    """The event comes from the hedge leg of this try, not the primary one (``hedge_*`` decisions: never)."""
    reason: HedgeRefusal | LoserFate | None = None
    """``hedge_refused``: why (budget, deadline); ``hedge_won``/``hedge_lost``: what became of the other leg."""


AttemptObserver = Callable[[AttemptEvent], None]


def health_outcome(error: BaseException | None) -> Outcome:
    """What an attempt's result says about the source, for its breaker."""
    if error is None:
        return Outcome.SUCCESS
    if isinstance(error, FetchError) and error.retriable:
        return Outcome.FAILURE
    if isinstance(error, InvalidRequest | ConnectorNotReady) or not isinstance(error, FetchError):
        return Outcome.IGNORED
    return Outcome.SUCCESS


class ResilientSource:
    """A connector with its breaker and concurrency limit; shared by every node using the source.

    The limit is fixed at ``max_concurrency`` unless ``limit`` (an :class:`AdaptiveLimit`, whose
    ceiling is then ``max_concurrency``) makes it adaptive; :meth:`from_settings` builds either.
    """

    def __init__(
        self,
        *,
        connector: Connector[Any],
        breaker: CircuitBreaker,
        max_concurrency: int = 32,
        limit: AdaptiveLimit | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit is not None and limit.ceiling != max_concurrency:
            raise ValueError(f"the adaptive limit's ceiling ({limit.ceiling}) must be max_concurrency")
        self.connector = connector
        self.breaker = breaker
        self.max_concurrency = max_concurrency
        self.admission = None if limit is None else Admission(limit, source=connector.source)
        """The adaptive limit's admission; ``None`` when the limit is fixed."""
        self._slots = asyncio.Semaphore(max_concurrency)
        self._in_flight = 0
        self._sleep = sleep

    @classmethod
    def from_settings(
        cls,
        connector: Connector[Any],
        settings: Mapping[str, Any],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> Self:
        """Build from a source's generic ``breaker:`` and ``limits:`` keys (both optional; see
        :func:`breaker_settings`, :func:`limit_settings`). ``clock`` is the breaker's; deadlines are
        ``time.monotonic()``."""
        source = connector.source
        breaker = breaker_settings(connector, settings)
        limits = limit_settings(connector, settings)
        return cls(
            connector=connector,
            breaker=CircuitBreaker(
                source=source,
                failure_threshold=breaker.failure_threshold,
                reset_timeout_s=breaker.reset_timeout_s,
                clock=clock,
            ),
            max_concurrency=limits.max_concurrency,
            limit=limits.adaptive_limit(),
            sleep=sleep,
        )

    @property
    def in_flight(self) -> int:
        """Attempts holding a slot right now."""
        return self._in_flight if self.admission is None else self.admission.in_flight

    @property
    def limit(self) -> int:
        """Attempts allowed in flight now: the adaptive limit's current value, or the fixed one."""
        return self.max_concurrency if self.admission is None else self.admission.limit.limit

    async def _acquire_slot(self, deadline: float | None) -> None:
        """Take one slot of the fixed concurrency limit; waiting for it never outlasts ``deadline``.

        Release it with :meth:`_release_slot` (a plain pair, not a context manager: this runs
        once per attempt, where a generator-based one costs more than the rest of the slot).
        """
        if self._slots.locked():
            try:
                async with asyncio.timeout(None if deadline is None else deadline - time.monotonic()):
                    await self._slots.acquire()
            except TimeoutError:
                raise FetchTimeout(
                    "deadline passed while waiting for a free slot of the source's concurrency limit",
                    source=self.connector.source,
                ) from None
        else:
            await self._slots.acquire()  # free: returns at once, no timer needed
        self._in_flight += 1

    def _release_slot(self) -> None:
        self._in_flight -= 1
        self._slots.release()

    async def call(
        self,
        request: Mapping[str, Any],
        *,
        timeout_ms: float,
        retry: RetryPolicy,
        deadline: float | None = None,
        observer: AttemptObserver | None = None,
        hedge: HedgePlan | None = None,
    ) -> FetchOutcome:
        """Fetch with retries. On failure the last ``FetchError`` is raised with ``attempts`` set.

        ``timeout_ms`` bounds each attempt; ``deadline`` (a ``time.monotonic()``
        value) bounds the last one and stops retrying when the next wait would
        pass it. ``hedge`` doubles slow attempts; pass it for idempotent
        requests only.
        """
        run = _Call(
            source=self,
            request=request,
            timeout_ms=timeout_ms,
            retry=retry,
            deadline=deadline,
            observer=observer,
            hedge=hedge,
        )
        started = time.monotonic()
        try:
            value: Any = await run.run()
        except FetchError as exc:
            exc.attempts = run.attempts
            raise
        return FetchOutcome(
            value=value,
            attempts=run.attempts,
            latency_ms=(time.monotonic() - started) * 1000.0,
            hedges=run.hedges,
            hedges_refused=run.hedges_refused,
            hedge_won=run.hedge_won,
            hedge_after_ms=None if hedge is None else hedge.after_ms,
        )


class _Call:
    """State of one ``ResilientSource.call``: tenacity's callbacks, the attempts and their hedges."""

    def __init__(
        self,
        *,
        source: ResilientSource,
        request: Mapping[str, Any],
        timeout_ms: float,
        retry: RetryPolicy,
        deadline: float | None,
        observer: AttemptObserver | None,
        hedge: HedgePlan | None,
    ) -> None:
        self.source = source
        self.request = request
        self.timeout_s = timeout_ms / 1000.0
        self.retry = retry
        self.deadline = deadline
        self.observer = observer
        self.hedge = hedge
        self.attempts = 0
        self.tries = 0
        self.next_delay: float | None = None
        self.hedges = 0
        self.hedges_refused = 0
        self.hedge_won = False

    def emit(self, kind: AttemptKind, **fields: Any) -> None:
        if self.observer is not None:
            self.observer(AttemptEvent(kind=kind, attempt=self.tries, **fields))

    async def run(self) -> Any:
        """The first attempt directly; tenacity only once a retry is due."""
        try:
            return await self.attempt()
        except FetchError as exc:
            if not RetryPolicy.should_retry(exc):
                raise
            first = exc
        return await self._retry_after(first)

    async def _retry_after(self, first: FetchError) -> Any:
        """Hand over to tenacity as if it had made the first attempt: it sees ``first`` raised again."""
        replayed = False

        async def attempt() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                raise first
            return await self.attempt()

        retrying = AsyncRetrying(
            retry=retry_if_exception(RetryPolicy.should_retry),
            wait=self.wait,
            stop=self.stop,
            before_sleep=self.before_sleep,
            sleep=self.source._sleep,
            reraise=True,
        )
        return await retrying(attempt)

    def wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        self.next_delay = self.retry.delay_s(state.attempt_number, error=error)
        return self.next_delay or 0.0

    def stop(self, state: RetryCallState) -> bool:
        if state.attempt_number > self.retry.retries or self.next_delay is None:
            return True
        return self.deadline is not None and time.monotonic() + self.next_delay >= self.deadline

    def before_sleep(self, state: RetryCallState) -> None:
        self.emit("retry_scheduled", delay_ms=state.upcoming_sleep * 1000.0)

    def attempt(self) -> Coroutine[Any, Any, Any]:
        """The next try, to await: its leg itself when it is not hedged (no coroutine of its own
        held for the whole call)."""
        self.tries += 1
        if self.hedge is None:
            return self._leg(False)
        return hedged(self._leg, plan=self.hedge, deadline=self.deadline, observer=self)

    async def _leg(self, hedge: bool) -> Any:
        source = self.source
        admission = source.admission
        if admission is None:
            await source._acquire_slot(self.deadline)
            try:
                return await self._admitted_attempt(hedge=hedge, ticket=None)
            finally:
                source._release_slot()
        ticket = admission.try_acquire()  # a free slot: no await, no timer
        if ticket is None:
            try:
                ticket = await admission.acquire(self.deadline)
            except LoadShed as exc:
                self.emit("shed", hedge=hedge, error_kind=exc.kind, message=str(exc))
                raise
        try:
            return await self._admitted_attempt(hedge=hedge, ticket=ticket)
        finally:
            admission.release()

    def hedge_started(self, *, waited_ms: float) -> None:
        self.hedges += 1
        self.emit("hedge_started", delay_ms=waited_ms)

    def hedge_refused(self, *, reason: HedgeRefusal, waited_ms: float) -> None:
        self.hedges_refused += 1
        self.emit("hedge_refused", delay_ms=waited_ms, reason=reason, message=_REFUSED[reason])

    def hedge_decided(self, *, hedge_won: bool, latency_ms: float, loser: LoserFate) -> None:
        self.hedge_won = hedge_won
        winner, other = ("hedge", "primary") if hedge_won else ("primary", "hedge")
        self.emit(
            "hedge_won" if hedge_won else "hedge_lost",
            latency_ms=latency_ms,
            reason=loser,
            message=f"the {winner} answered first; the {other} {_LOSER[loser]}",
        )

    async def _admitted_attempt(self, *, hedge: bool, ticket: Ticket | None) -> Any:
        timeout_s = self.timeout_s
        if self.deadline is not None:
            timeout_s = min(timeout_s, self.deadline - time.monotonic())
        if timeout_s <= 0:
            raise FetchTimeout("the deadline passed before the attempt", source=self.source.connector.source)
        try:
            permit = self.source.breaker.acquire()
        except CircuitOpen as exc:
            self.emit("breaker_rejected", hedge=hedge, error_kind=exc.kind, message=str(exc))
            raise
        self.attempts += 1
        self.emit("attempt_start", hedge=hedge)
        started = time.monotonic()
        error: BaseException | None = None
        try:
            async with asyncio.timeout(timeout_s) as scope:
                value = await self.source.connector.fetch(self.request)
        except TimeoutError as exc:
            error = exc
            if not scope.expired():
                raise
            error = FetchTimeout(
                f"attempt timed out after {timeout_s * 1000.0:.0f} ms", source=self.source.connector.source
            )
            raise error from None
        except BaseException as exc:
            error = exc
            raise
        finally:
            latency_ms = (time.monotonic() - started) * 1000.0
            admission = self.source.admission
            if error is None:  # most attempts: nothing to classify
                outcome = Outcome.SUCCESS
                if admission is not None and ticket is not None:
                    self._learn(admission, ticket, latency_ms, None, hedge=hedge)
            else:
                outcome = self._failed(
                    error, admission, ticket, timeout_s, latency_ms=latency_ms, hedge=hedge
                )
            self.source.breaker.record(permit, outcome)
            if isinstance(error, FetchError):
                if error.source is None:
                    error.source = self.source.connector.source
                self.emit(
                    "attempt_failed",
                    hedge=hedge,
                    error_kind=error.kind,
                    message=str(error),
                    latency_ms=latency_ms,
                )
        self.emit("succeeded", hedge=hedge, latency_ms=latency_ms)
        return value

    def _failed(
        self,
        error: BaseException,
        admission: Admission | None,
        ticket: Ticket | None,
        timeout_s: float,
        *,
        latency_ms: float,
        hedge: bool,
    ) -> Outcome:
        """What a failed attempt tells the breaker, after the adaptive limit has learned from it.

        Not the source's failure: a timeout cut short by the request's deadline (the request ran out
        of time, the source did not exceed its timeout), or a drop (timeout, 429) of an attempt
        admitted before the limit was last cut: graphfetch's own overload, which the cut answers."""
        full_timeout = timeout_s >= self.timeout_s
        if isinstance(error, FetchTimeout) and not full_timeout:
            return Outcome.IGNORED
        outcome = health_outcome(error)
        if admission is None or ticket is None:
            return outcome
        drop = _drop(error)
        stale = admission.stale(ticket)
        if outcome is Outcome.SUCCESS or drop is not None:  # the source answered, or was overloaded
            self._learn(admission, ticket, latency_ms, drop, hedge=hedge)
        return Outcome.IGNORED if stale and drop is not None else outcome

    def _learn(
        self, admission: Admission, ticket: Ticket, latency_ms: float, drop: Drop | None, *, hedge: bool
    ) -> None:
        change = admission.record(ticket, latency_ms, drop=drop)
        if change is not None:
            self.emit("limit_changed", hedge=hedge, message=change.message(self.source.connector.source))


def _drop(error: BaseException) -> Drop | None:
    """Whether a failed attempt says the source is overloaded: it ran out its whole timeout (the
    caller has set aside a timeout the deadline cut short), or the source answered 429."""
    if isinstance(error, FetchTimeout):
        return "timeout"
    if isinstance(error, RateLimited):
        return "rate_limited"
    return None


_REFUSED: dict[HedgeRefusal, str] = {
    "budget": "the hedge budget is spent",
    "deadline": "too little time is left before the deadline",
}
_LOSER: dict[LoserFate, str] = {
    "cancelled": "was cancelled",
    "failed": "had failed",
    "answered": "answered too",
}
