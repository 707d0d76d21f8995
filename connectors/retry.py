"""Retry policy: how many extra attempts, and how long to wait before each.

Only errors whose class says ``retriable = True`` are retried. The waits grow
exponentially (``backoff_initial_ms * 2**(n-1)``, capped at ``backoff_max_ms``)
and, with ``jitter``, are drawn from the upper half of that window ("equal
jitter"): callers that failed together do not retry together, yet a wait never
shrinks below half its step. A ``RateLimited`` error's ``retry_after_s`` is
honoured when it fits within ``backoff_max_ms``; a longer demand ends the
retries, since retrying sooner would only be refused again.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.errors import FetchError, RateLimited


class RetryPolicy(BaseModel):
    """Retries of one node's fetch; durations in milliseconds like the rest of the config."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    retries: int = Field(ge=0, le=100, description="Extra attempts after the first.")
    backoff_initial_ms: float = Field(20, gt=0, description="Wait before the first retry.")
    backoff_max_ms: float = Field(1000, gt=0, description="Longest wait between two attempts.")
    jitter: bool = Field(True, description="Randomise waits so callers do not retry in step.")

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> RetryPolicy:
        if self.backoff_max_ms < self.backoff_initial_ms:
            raise ValueError("Maximum backoff cannot be less than initial backoff")
        return self

    @staticmethod
    def should_retry(error: BaseException) -> bool:
        """Whether this error class is worth another attempt at all."""
        return isinstance(error, FetchError) and error.retriable

    def backoff_s(self, failed_attempt: int, *, rng: random.Random | None = None) -> float:
        """Wait after the ``failed_attempt``-th attempt (1-based) failed, ignoring the error."""
        step_ms = min(self.backoff_max_ms, self.backoff_initial_ms * 2.0 ** (failed_attempt - 1))
        if self.jitter:
            step_ms = (rng or random).uniform(step_ms / 2.0, step_ms)
        return step_ms / 1000.0

    def delay_s(
        self, failed_attempt: int, *, error: BaseException | None, rng: random.Random | None = None
    ) -> float | None:
        """Wait before the next attempt, or ``None`` when the error asks for more than the policy allows."""
        delay = self.backoff_s(failed_attempt, rng=rng)
        if isinstance(error, RateLimited) and error.retry_after_s is not None:
            if error.retry_after_s * 1000.0 > self.backoff_max_ms:
                return None
            delay = max(delay, error.retry_after_s)
        return delay
