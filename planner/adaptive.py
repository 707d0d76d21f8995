"""A node's adaptive decisions with every inherited value resolved: node, then pipeline, then built-in.

``hedge`` and ``coalesce`` stay ``None`` ("auto") when no config set them:
only the connector knows whether a fetch is idempotent, so the runtime decides
them per fetch (on for idempotent fetches, off otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.config import Adaptive, Cache


@dataclass(frozen=True, kw_only=True, slots=True)
class AdaptivePolicy:
    timeouts: bool = False  # opt-in: under CPU starvation it turns slowness into timeouts
    timeout_factor: float = 3.0
    min_timeout_ms: float = 50.0
    hedge: bool | None = None
    hedge_quantile: float = 0.95
    hedge_budget: float = 0.05
    coalesce: bool | None = None
    deadline_aware: bool = True
    critical_path_first: bool = True
    cache: Cache | None = None


BUILT_IN = AdaptivePolicy()


def resolve_policy(*, node: Adaptive, pipeline: Adaptive, cache: Cache | None) -> AdaptivePolicy:
    """The first value set among the node's, the pipeline's and the built-in default, field by field."""
    resolved = {
        name: _first(getattr(node, name), getattr(pipeline, name), getattr(BUILT_IN, name))
        for name in Adaptive.model_fields
    }
    return AdaptivePolicy(**resolved, cache=cache)


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)
