"""The settings every source may have, whatever its connector: ``limits:`` and ``breaker:``.

They configure graphfetch, not the connector (:data:`connectors.base.GENERIC_SETTINGS`).
:class:`~connectors.resilience.ResilientSource` is built from them, ``graphfetch validate``
and a live config change check them, and ``plan --explain`` shows them, all through
:func:`limit_settings` and :func:`breaker_settings`, so the three read them alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors import _validation
from connectors.base import Connector
from connectors.breaker import BreakerSettings
from connectors.errors import SourceConfigError
from connectors.limiter import AdaptiveLimit

DEFAULT_INITIAL_LIMIT = 4
"""Where an adaptive limit starts unless ``initial_limit`` says otherwise (or the ceiling is lower): low,
so that the first windows measure the source's no-load latency rather than a load graphfetch put on
it (a restarted worker meets its backlog with a fresh limit), and it grows in about 20 round trips."""


class LimitSettings(BaseModel):
    """A source's ``limits:`` settings (docs/adaptive.md#concurrency-limit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_concurrency: int = Field(
        32,
        ge=1,
        le=10_000,
        description="Attempts in flight at once: the ceiling of the adaptive limit, or the fixed limit.",
    )
    adaptive: bool = Field(
        True,
        description="Learn the limit from the source's latency, between 1 and max_concurrency, and shed "
        "waiters that cannot meet their deadline; false: a fixed limit of max_concurrency.",
    )
    initial_limit: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description=f"The adaptive limit when the source starts (default {DEFAULT_INITIAL_LIMIT}, "
        "or max_concurrency if lower).",
    )
    tolerance: float = Field(
        1.5,
        gt=1,
        le=100,
        description="Latency up to this many times the source's no-load latency raises the limit; "
        "above it the limit is cut.",
    )
    backoff_ratio: float = Field(
        0.9, gt=0, lt=1, description="A cut multiplies the limit by this (and lowers it by one at least)."
    )

    @model_validator(mode="after")
    def _initial_within_ceiling(self) -> LimitSettings:
        if self.initial_limit is not None and self.initial_limit > self.max_concurrency:
            raise ValueError(
                f"initial_limit ({self.initial_limit}) cannot be more than max_concurrency "
                f"({self.max_concurrency}), the limit's ceiling"
            )
        return self

    @property
    def start(self) -> int:
        """The limit when the source starts."""
        if not self.adaptive:
            return self.max_concurrency
        return self.initial_limit or min(DEFAULT_INITIAL_LIMIT, self.max_concurrency)

    def adaptive_limit(self) -> AdaptiveLimit | None:
        """A fresh adaptive limit from these settings; ``None`` for a fixed one."""
        if not self.adaptive:
            return None
        return AdaptiveLimit(
            ceiling=self.max_concurrency,
            initial=self.start,
            tolerance=self.tolerance,
            backoff_ratio=self.backoff_ratio,
        )


def breaker_settings(connector: Connector[Any], settings: Mapping[str, Any]) -> BreakerSettings:
    """A source's ``breaker:``."""
    return _validation.parse(
        BreakerSettings,
        settings.get("breaker") or {},
        error=SourceConfigError,
        source=connector.source,
        prefix="breaker",
    )


def limit_settings(connector: Connector[Any], settings: Mapping[str, Any]) -> LimitSettings:
    """A source's ``limits:``; ``max_concurrency`` defaults to the connector's pool bound if it has one
    (a SQL source's ``pool_size``), so that callers queue for a slot, not inside the pool under a timeout."""
    limits = dict(settings.get("limits") or {})
    if connector.pool_limit is not None:
        limits.setdefault("max_concurrency", connector.pool_limit)
    return _validation.parse(
        LimitSettings, limits, error=SourceConfigError, source=connector.source, prefix="limits"
    )
