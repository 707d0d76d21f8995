"""Settings of the demo upstreams: where they listen, what they serve, how they misbehave.

Fault knobs live per service (the first path segment: ``crm``, ``orders``, ...).
A ``default`` entry applies to every service; a service entry overrides only
the knobs it names, so ``{"default": {"latency_ms": 20}, "risk": {"error_rate": 0.1}}``
gives ``risk`` both 20 ms of latency and 10 % of errors.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

SERVICES: Final = ("crm", "orders", "support", "loyalty", "risk", "shipping")
"""The demo services, each the first path segment of its endpoints."""

DEFAULT_FAULTS: Final = "default"
"""The key of :attr:`DemoSettings.faults` (and of ``PUT /_control/default``) that targets every service."""

MAX_CUSTOMERS: Final = 100_000
"""Customer ids have five digits (``C00000``..``C99999``)."""


class FaultSettings(BaseModel):
    """How one service misbehaves. All zero (the default) means a fast, healthy service."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: float = Field(default=0.0, ge=0, description="Delay added to every call.")
    jitter_ms: float = Field(
        default=0.0, ge=0, description="Uniform extra delay between 0 and this, per call."
    )
    error_rate: float = Field(
        default=0.0, ge=0, le=1, description="Share of calls answered 503 (after their delay)."
    )
    hang_rate: float = Field(
        default=0.0, ge=0, le=1, description="Share of calls that wait `hang_ms` instead."
    )
    hang_ms: float = Field(default=30_000.0, ge=0, description="How long a hanging call waits.")
    tail_rate: float = Field(default=0.0, ge=0, le=1, description="Share of calls whose delay is multiplied.")
    tail_factor: float = Field(
        default=10.0, ge=1, description="Multiplier of the delay of tail calls (heavy tails)."
    )
    down: bool = Field(default=False, description="Answer every call 503 at once.")
    capacity: int | None = Field(
        default=None,
        ge=1,
        description="Calls served at full speed at once; a call arriving while n > capacity are in flight "
        "(itself included) takes n / capacity times its delay, as on a saturated server. None: unlimited.",
    )

    def merged(self, patch: FaultSettings) -> FaultSettings:
        """These knobs with the ones ``patch`` sets explicitly taking precedence."""
        return self.model_copy(update=patch.model_dump(include=patch.model_fields_set))


class DemoSettings(BaseModel):
    """Everything the demo upstreams need to start; the same settings serve the same data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(default="127.0.0.1", description="Interface to bind; loopback unless asked otherwise.")
    port: int = Field(default=8700, ge=0, le=65_535, description="TCP port; 0 picks a free one.")
    customers: int = Field(default=5_000, ge=1, le=MAX_CUSTOMERS, description="Customers C00000.. served.")
    token: SecretStr = Field(
        default=SecretStr("demo"), description="Bearer token the orders service requires."
    )
    seed: int = Field(default=0, description="Seed of the fault randomness: same seed, same run.")
    db_url: str | None = Field(
        default="sqlite+aiosqlite:///demo.db",
        description="SQLAlchemy async URL seeded with the credit table at start; empty skips.",
    )
    faults: dict[str, FaultSettings] = Field(
        default_factory=dict,
        description="Knobs per service at start; the `default` entry applies to all services.",
    )

    @field_validator("faults")
    @classmethod
    def _known_services(cls, faults: dict[str, FaultSettings]) -> dict[str, FaultSettings]:
        unknown = sorted(set(faults) - {DEFAULT_FAULTS, *SERVICES})
        if unknown:
            choices = ", ".join((DEFAULT_FAULTS, *SERVICES))
            raise ValueError(f"unknown service(s) {', '.join(unknown)}: choose from {choices}")
        return faults

    def faults_for(self, service: str) -> FaultSettings:
        """The start knobs of ``service``: the defaults, overridden by its own entry."""
        base = self.faults.get(DEFAULT_FAULTS, FaultSettings())
        own = self.faults.get(service)
        return base if own is None else base.merged(own)
