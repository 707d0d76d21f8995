"""RetryPolicy: exponential waits with jitter, Retry-After, and plain-English validation."""

import random

import pytest
from pydantic import ValidationError

from connectors import FetchTimeout, NotFound, RateLimited, RetryPolicy


def test_waits_double_from_initial_and_stop_at_max() -> None:
    policy = RetryPolicy(retries=6, backoff_initial_ms=20, backoff_max_ms=100, jitter=False)
    assert [policy.backoff_s(n) for n in range(1, 6)] == [0.02, 0.04, 0.08, 0.1, 0.1]


def test_jitter_draws_from_the_upper_half_of_each_step() -> None:
    policy = RetryPolicy(retries=3, backoff_initial_ms=100, backoff_max_ms=1000)
    rng = random.Random(7)
    for attempt, step in [(1, 0.1), (2, 0.2), (3, 0.4), (5, 1.0)]:
        waits = [policy.backoff_s(attempt, rng=rng) for _ in range(200)]
        assert all(step / 2 <= w <= step for w in waits)
        assert len(set(waits)) > 100, "jitter must spread the waits"


def test_retry_after_within_max_backoff_is_honoured() -> None:
    policy = RetryPolicy(retries=2, backoff_initial_ms=10, backoff_max_ms=1000, jitter=False)
    assert policy.delay_s(1, error=RateLimited("429", retry_after_s=0.5)) == 0.5
    assert policy.delay_s(1, error=RateLimited("429", retry_after_s=0.0)) == 0.01
    assert policy.delay_s(1, error=RateLimited("429", retry_after_s=None)) == 0.01


def test_retry_after_beyond_max_backoff_ends_the_retries() -> None:
    policy = RetryPolicy(retries=2, backoff_max_ms=1000)
    assert policy.delay_s(1, error=RateLimited("429", retry_after_s=30)) is None


def test_only_retriable_errors_are_retried() -> None:
    assert RetryPolicy.should_retry(FetchTimeout("t"))
    assert not RetryPolicy.should_retry(NotFound("n"))
    assert not RetryPolicy.should_retry(ValueError("bug"))


def test_max_backoff_below_initial_is_rejected_in_plain_english() -> None:
    with pytest.raises(ValidationError, match="Maximum backoff cannot be less than initial backoff"):
        RetryPolicy(retries=1, backoff_initial_ms=500, backoff_max_ms=100)


def test_policy_is_frozen_and_retries_non_negative() -> None:
    policy = RetryPolicy(retries=1)
    with pytest.raises(ValidationError):
        policy.retries = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        RetryPolicy(retries=-1)
