"""One source behind its timeout, retries, circuit breaker and concurrency limit.

:class:`ResilientSource` wraps one started :class:`~connectors.base.Connector`.
Each attempt of :meth:`ResilientSource.call`:

1. waits for a slot of the source's concurrency limit (fair FIFO
   ``asyncio.Semaphore``; the wait is bounded by the call's deadline), so a
   slow source queues its callers instead of opening ever more connections;
2. asks the source's :class:`~connectors.breaker.CircuitBreaker` for a permit
   (an open breaker fails at once with ``CircuitOpen``);
3. runs ``connector.fetch`` under ``timeout_ms`` (and the deadline).

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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from connectors import _validation
from connectors.base import Connector
from connectors.breaker import BreakerSettings, CircuitBreaker, Outcome
from connectors.errors import (
    CircuitOpen,
    ConnectorNotReady,
    FetchError,
    FetchErrorKind,
    FetchTimeout,
    InvalidRequest,
    SourceConfigError,
)
from connectors.hedging import HedgePlan, HedgeRefusal, LoserFate, hedged
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
]


class LimitSettings(BaseModel):
    """A source's ``limits:`` settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_concurrency: int = Field(32, ge=1, le=10_000, description="Attempts in flight at once.")


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
    """A connector with its breaker and limiter; shared by every node using the source."""

    def __init__(
        self,
        *,
        connector: Connector[Any],
        breaker: CircuitBreaker,
        max_concurrency: int = 32,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.connector = connector
        self.breaker = breaker
        self.max_concurrency = max_concurrency
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
        """Build from a source's generic ``breaker:`` and ``limits:`` keys (both optional)."""
        source = connector.source
        breaker = _validation.parse(
            BreakerSettings,
            settings.get("breaker") or {},
            error=SourceConfigError,
            source=source,
            prefix="breaker",
        )
        limits = _validation.parse(
            LimitSettings,
            settings.get("limits") or {},
            error=SourceConfigError,
            source=source,
            prefix="limits",
        )
        return cls(
            connector=connector,
            breaker=CircuitBreaker(
                source=source,
                failure_threshold=breaker.failure_threshold,
                reset_timeout_s=breaker.reset_timeout_s,
                clock=clock,
            ),
            max_concurrency=limits.max_concurrency,
            sleep=sleep,
        )

    @property
    def in_flight(self) -> int:
        """Attempts holding a slot right now."""
        return self._in_flight

    async def _acquire_slot(self, deadline: float | None) -> None:
        """Take one slot of the concurrency limit; waiting for it never outlasts ``deadline``.

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

    async def attempt(self) -> Any:
        self.tries += 1
        if self.hedge is None:
            return await self._leg(False)
        return await hedged(self._leg, plan=self.hedge, deadline=self.deadline, observer=self)

    async def _leg(self, hedge: bool) -> Any:
        source = self.source
        await source._acquire_slot(self.deadline)
        try:
            return await self._admitted_attempt(hedge=hedge)
        finally:
            source._release_slot()

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

    async def _admitted_attempt(self, *, hedge: bool) -> Any:
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
            self.source.breaker.record(permit, health_outcome(error))
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


_REFUSED: dict[HedgeRefusal, str] = {
    "budget": "the hedge budget is spent",
    "deadline": "too little time is left before the deadline",
}
_LOSER: dict[LoserFate, str] = {
    "cancelled": "was cancelled",
    "failed": "had failed",
    "answered": "answered too",
}
