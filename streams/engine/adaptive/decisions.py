"""The rules behind each adaptive decision: pure functions of the policy, the history and the clock.

Each returns what to do and, when it changes anything, the sentence that goes
into the profile's lineage and the fetch span, so every decision can be read
back by an operator.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner import AdaptivePolicy


@dataclass(frozen=True, kw_only=True, slots=True)
class Estimates:
    """What the history predicts for one node; ``None`` until enough observations."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    hedge_after: float | None = None
    """The quantile of the node's policy (``hedge_quantile``), p95 by default."""


NO_HISTORY = Estimates()


def adaptive_timeout(
    policy: AdaptivePolicy, *, node: str, configured_ms: float, estimates: Estimates
) -> tuple[float, str | None]:
    """``timeout_factor`` x the observed p99, never above the configured timeout nor below the floor."""
    if not policy.timeouts or estimates.p99 is None:
        return configured_ms, None
    learned = max(policy.min_timeout_ms, policy.timeout_factor * estimates.p99)
    if learned >= configured_ms:
        return configured_ms, None
    return learned, (
        f"timeout {learned:.0f} ms from history ({policy.timeout_factor:g} x p99 of {node} = "
        f"{estimates.p99:.0f} ms; configured {configured_ms:.0f} ms)"
    )


def hedge_delay(policy: AdaptivePolicy, *, idempotent: bool, estimates: Estimates) -> float | None:
    """When to send a second attempt: after the observed quantile, for idempotent fetches only
    unless the config says otherwise; ``None`` means no hedging."""
    enabled = idempotent if policy.hedge is None else policy.hedge
    if not enabled or estimates.hedge_after is None:
        return None
    return estimates.hedge_after


def deadline_refusal(
    policy: AdaptivePolicy, *, node: str, remaining_ms: float, estimates: Estimates
) -> str | None:
    """Why a node is not started: its typical (p50) latency does not fit in the time left."""
    if not policy.deadline_aware or estimates.p50 is None or estimates.p50 <= remaining_ms:
        return None
    return (
        f"not started: predicted {estimates.p50:.0f} ms (p50 of {node}) exceeds the "
        f"{max(remaining_ms, 0.0):.0f} ms left before the request's deadline"
    )


def coalescing_enabled(policy: AdaptivePolicy, *, idempotent: bool) -> bool:
    return idempotent if policy.coalesce is None else policy.coalesce
