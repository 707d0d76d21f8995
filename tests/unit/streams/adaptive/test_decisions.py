"""The adaptive rules: each decision happens when the history says so, and not otherwise."""

from __future__ import annotations

from planner import AdaptivePolicy
from streams.engine.adaptive.decisions import (
    NO_HISTORY,
    Estimates,
    adaptive_timeout,
    coalescing_enabled,
    deadline_refusal,
    hedge_delay,
)

POLICY = AdaptivePolicy()
TIMEOUTS = AdaptivePolicy(timeouts=True)


def test_timeout_is_lowered_to_factor_times_p99_and_says_why() -> None:
    timeout, note = adaptive_timeout(TIMEOUTS, node="orders", configured_ms=300, estimates=Estimates(p99=40))
    assert timeout == 120
    assert note == "timeout 120 ms from history (3 x p99 of orders = 40 ms; configured 300 ms)"


def test_timeout_never_rises_above_the_config_nor_falls_below_the_floor() -> None:
    assert adaptive_timeout(TIMEOUTS, node="n", configured_ms=300, estimates=Estimates(p99=200)) == (
        300,
        None,
    )
    low, _ = adaptive_timeout(TIMEOUTS, node="n", configured_ms=300, estimates=Estimates(p99=1))
    assert low == TIMEOUTS.min_timeout_ms


def test_timeout_unchanged_without_history_or_by_default() -> None:
    assert adaptive_timeout(TIMEOUTS, node="n", configured_ms=300, estimates=NO_HISTORY) == (300, None)
    assert adaptive_timeout(POLICY, node="n", configured_ms=300, estimates=Estimates(p99=10)) == (300, None)


def test_hedge_defaults_to_idempotent_fetches_and_the_config_overrides() -> None:
    history = Estimates(hedge_after=45)
    assert hedge_delay(POLICY, idempotent=True, estimates=history) == 45
    assert hedge_delay(POLICY, idempotent=False, estimates=history) is None
    assert hedge_delay(AdaptivePolicy(hedge=False), idempotent=True, estimates=history) is None
    assert hedge_delay(AdaptivePolicy(hedge=True), idempotent=False, estimates=history) == 45
    assert hedge_delay(POLICY, idempotent=True, estimates=NO_HISTORY) is None


def test_deadline_refusal_only_when_the_p50_does_not_fit() -> None:
    history = Estimates(p50=120)
    reason = deadline_refusal(POLICY, node="orders", remaining_ms=40, estimates=history)
    assert (
        reason
        == "not started: predicted 120 ms (p50 of orders) exceeds the 40 ms left before the request's deadline"
    )
    assert deadline_refusal(POLICY, node="orders", remaining_ms=400, estimates=history) is None
    assert deadline_refusal(POLICY, node="orders", remaining_ms=40, estimates=NO_HISTORY) is None
    assert (
        deadline_refusal(AdaptivePolicy(deadline_aware=False), node="o", remaining_ms=1, estimates=history)
        is None
    )


def test_coalescing_defaults_to_idempotent_fetches() -> None:
    assert coalescing_enabled(POLICY, idempotent=True)
    assert not coalescing_enabled(POLICY, idempotent=False)
    assert not coalescing_enabled(AdaptivePolicy(coalesce=False), idempotent=True)
