"""One source behind its timeout, retries, circuit breaker and concurrency limit.

:class:`ResilientSource` wraps one started :class:`~connectors.base.Connector`.
Each attempt of :meth:`ResilientSource.call`:

1. waits for a slot of the source's concurrency limit (fair FIFO
   ``asyncio.Semaphore``; the wait is bounded by the call's deadline), so a
   slow source queues its callers instead of opening ever more connections;
2. asks the source's :class:`~connectors.breaker.CircuitBreaker` for a permit
   (an open breaker fails at once with ``CircuitOpen``);
3. runs ``connector.fetch`` under ``timeout_ms`` (and the deadline).

Retries are driven by tenacity with :class:`~connectors.retry.RetryPolicy`;
a slot is held only during an attempt, never during a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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
    FetchTimeout,
    InvalidRequest,
    SourceConfigError,
)
from connectors.retry import RetryPolicy

AttemptKind = Literal["attempt_start", "attempt_failed", "retry_scheduled", "breaker_rejected", "succeeded"]


class LimitSettings(BaseModel):
    """A source's ``limits:`` settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_concurrency: int = Field(32, ge=1, le=10_000, description="Attempts in flight at once.")


@dataclass(frozen=True, kw_only=True, slots=True)
class FetchOutcome:
    """A successful call: the value and what it took."""

    value: Any
    attempts: int
    latency_ms: float


@dataclass(frozen=True, kw_only=True, slots=True)
class AttemptEvent:
    """Something that happened during a call; the runtime turns these into span events."""

    kind: AttemptKind
    attempt: int
    error_kind: str | None = None
    message: str | None = None
    delay_ms: float | None = None
    latency_ms: float | None = None


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

    @contextlib.asynccontextmanager
    async def _slot(self, *, deadline: float | None) -> AsyncIterator[None]:
        """Hold one slot of the concurrency limit; waiting for it never outlasts ``deadline``."""
        try:
            async with asyncio.timeout(None if deadline is None else deadline - time.monotonic()):
                await self._slots.acquire()
        except TimeoutError:
            raise FetchTimeout(
                "deadline passed while waiting for a free slot of the source's concurrency limit",
                source=self.connector.source,
            ) from None
        self._in_flight += 1
        try:
            yield
        finally:
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
    ) -> FetchOutcome:
        """Fetch with retries. On failure the last ``FetchError`` is raised with ``attempts`` set.

        ``timeout_ms`` bounds each attempt; ``deadline`` (a ``time.monotonic()``
        value) bounds the last one and stops retrying when the next wait would
        pass it.
        """
        run = _Call(
            source=self,
            request=request,
            timeout_ms=timeout_ms,
            retry=retry,
            deadline=deadline,
            observer=observer,
        )
        started = time.monotonic()
        retrying = AsyncRetrying(
            retry=retry_if_exception(RetryPolicy.should_retry),
            wait=run.wait,
            stop=run.stop,
            before_sleep=run.before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            value: Any = await retrying(run.attempt)
        except FetchError as exc:
            exc.attempts = run.attempts
            raise
        return FetchOutcome(
            value=value, attempts=run.attempts, latency_ms=(time.monotonic() - started) * 1000.0
        )


class _Call:
    """State of one ``ResilientSource.call``: tenacity's callbacks and the attempt itself."""

    def __init__(
        self,
        *,
        source: ResilientSource,
        request: Mapping[str, Any],
        timeout_ms: float,
        retry: RetryPolicy,
        deadline: float | None,
        observer: AttemptObserver | None,
    ) -> None:
        self.source = source
        self.request = request
        self.timeout_s = timeout_ms / 1000.0
        self.retry = retry
        self.deadline = deadline
        self.observer = observer
        self.attempts = 0
        self.tries = 0
        self.next_delay: float | None = None

    def emit(self, kind: AttemptKind, **fields: Any) -> None:
        if self.observer is not None:
            self.observer(AttemptEvent(kind=kind, attempt=self.tries, **fields))

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
        async with self.source._slot(deadline=self.deadline):
            return await self._admitted_attempt()

    async def _admitted_attempt(self) -> Any:
        timeout_s = self.timeout_s
        if self.deadline is not None:
            timeout_s = min(timeout_s, self.deadline - time.monotonic())
        if timeout_s <= 0:
            raise FetchTimeout("the deadline passed before the attempt", source=self.source.connector.source)
        try:
            permit = self.source.breaker.acquire()
        except CircuitOpen as exc:
            self.emit("breaker_rejected", error_kind=exc.kind, message=str(exc))
            raise
        self.attempts += 1
        self.emit("attempt_start")
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
                self.emit("attempt_failed", error_kind=error.kind, message=str(error), latency_ms=latency_ms)
        self.emit("succeeded", latency_ms=latency_ms)
        return value
