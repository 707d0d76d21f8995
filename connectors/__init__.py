"""Fetching: the connector interface, HTTP and SQL connectors, the registry and resilience.

The package imports neither the planner nor the runtime. The HTTP and SQL
connectors are imported lazily by the registry; import them from
``connectors.http`` and ``connectors.sql``.
"""

from connectors.base import GENERIC_SETTINGS, Connector, ConnectorState
from connectors.breaker import BreakerSettings, BreakerState, CircuitBreaker
from connectors.errors import (
    FETCH_ERROR_KINDS,
    BadResponse,
    CircuitOpen,
    ConnectorNotReady,
    FetchError,
    FetchErrorKind,
    FetchTimeout,
    InvalidRequest,
    LoadShed,
    NotFound,
    RateLimited,
    SourceConfigError,
    UnknownConnector,
    UpstreamRejected,
    UpstreamUnavailable,
)
from connectors.generic_settings import LimitSettings
from connectors.hedging import HedgeBudget, HedgePlan
from connectors.limiter import AdaptiveLimit
from connectors.registry import ConnectorRegistry, default_registry
from connectors.resilience import AttemptEvent, FetchOutcome, ResilientSource
from connectors.retry import RetryPolicy

__all__ = [
    "FETCH_ERROR_KINDS",
    "GENERIC_SETTINGS",
    "AdaptiveLimit",
    "AttemptEvent",
    "BadResponse",
    "BreakerSettings",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpen",
    "Connector",
    "ConnectorNotReady",
    "ConnectorRegistry",
    "ConnectorState",
    "FetchError",
    "FetchErrorKind",
    "FetchOutcome",
    "FetchTimeout",
    "HedgeBudget",
    "HedgePlan",
    "InvalidRequest",
    "LimitSettings",
    "LoadShed",
    "NotFound",
    "RateLimited",
    "ResilientSource",
    "RetryPolicy",
    "SourceConfigError",
    "UnknownConnector",
    "UpstreamRejected",
    "UpstreamUnavailable",
    "default_registry",
]
