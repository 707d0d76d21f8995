"""A per-source circuit breaker with an injectable clock.

::

    CLOSED --failure_threshold consecutive failures--> OPEN
    OPEN   --reset_timeout_s elapsed, next call-------> HALF_OPEN (that call is the one probe)
    HALF_OPEN --probe succeeds--> CLOSED
    HALF_OPEN --probe fails-----> OPEN (timer restarts)

Only failures that say the *source* is unwell count (retriable errors:
timeouts, connection errors, 5xx, 429). An answer such as 404 shows the source
is up, so it counts as a success; an error raised before the upstream was
reached (an invalid request, a cancelled call) counts as nothing.

Each admitted call holds a :class:`Permit` stamped with the breaker's
generation; outcomes of calls admitted before the last state change are
ignored, so a slow call that started while the breaker was closed cannot close
a breaker that has since opened, nor be mistaken for the probe.

Why not a library: ``purgatory`` 3.0.1 and ``aiobreaker`` 1.2.0 both read the
wall clock directly (no injectable clock) and let every concurrent call
through while half-open instead of a single probe.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from connectors.errors import CircuitOpen


class BreakerSettings(BaseModel):
    """A source's ``breaker:`` settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    failure_threshold: int = Field(5, ge=1, description="Consecutive failures that open the breaker.")
    reset_timeout_s: float = Field(5.0, gt=0, description="How long it stays open before one probe.")


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Outcome(enum.Enum):
    """What one admitted call tells about the source's health."""

    SUCCESS = "success"
    FAILURE = "failure"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class Permit:
    """Admission of one call; hand it back to :meth:`CircuitBreaker.record`."""

    generation: int
    probe: bool


class CircuitBreaker:
    """Fails fast while a source is down; all state changes happen in ``acquire``/``record``."""

    def __init__(
        self,
        *,
        source: str,
        failure_threshold: int = 5,
        reset_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or reset_timeout_s <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_timeout_s > 0")
        self.source = source
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """Current state; an OPEN breaker whose timeout elapsed reports HALF_OPEN."""
        if self._state is BreakerState.OPEN and self._retry_in() <= 0:
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def acquire(self) -> Permit:
        """Admit a call, or raise :class:`CircuitOpen` without touching the upstream."""
        if self._state is BreakerState.OPEN and self._retry_in() <= 0:
            self._move(BreakerState.HALF_OPEN)
        if self._state is BreakerState.CLOSED:
            return Permit(generation=self._generation, probe=False)
        if self._state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return Permit(generation=self._generation, probe=True)
        if self._state is BreakerState.HALF_OPEN:
            raise CircuitOpen(
                "circuit breaker is half-open and its one probe is in flight; failing fast",
                source=self.source,
                retry_in_s=0.0,
            )
        retry_in = self._retry_in()
        raise CircuitOpen(
            f"circuit breaker is open (the source kept failing); next probe in {retry_in:.2f} s",
            source=self.source,
            retry_in_s=retry_in,
        )

    def record(self, permit: Permit, outcome: Outcome) -> None:
        """Account for an admitted call's outcome."""
        if permit.generation != self._generation:
            return
        if permit.probe:
            self._probing = False
            if outcome is Outcome.SUCCESS:
                self._move(BreakerState.CLOSED)
            elif outcome is Outcome.FAILURE:
                self._move(BreakerState.OPEN)
            return
        if outcome is Outcome.SUCCESS:
            self._failures = 0
        elif outcome is Outcome.FAILURE:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._move(BreakerState.OPEN)

    def _retry_in(self) -> float:
        return self._opened_at + self.reset_timeout_s - self._clock()

    def _move(self, state: BreakerState) -> None:
        self._state = state
        self._generation += 1
        self._probing = False
        if state is BreakerState.OPEN:
            self._opened_at = self._clock()
        if state is BreakerState.CLOSED:
            self._failures = 0
