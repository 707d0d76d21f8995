"""The profile: what a request's consumers receive (docs/spec.md#profile)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["complete", "partial", "failed"]
"""A profile's status (docs/spec.md#statuses)."""

ErrorKind = Literal[
    # A fetch failed: connectors.FetchErrorKind, spelled out again because the planner imports no
    # connector code (mypy checks the two agree where a fetch error becomes a Failure).
    "fetch_error",
    "timeout",
    "unavailable",
    "rate_limited",
    "not_found",
    "rejected",
    "bad_response",
    "circuit_open",
    "shed",
    "invalid_request",
    "not_ready",
    "source_config",
    "unknown_connector",
    # The request's own course.
    "deadline",
    "dependency_failed",
    "render",
    "field",
    # A worker cannot serve the request's pipeline version.
    "unknown_pipeline",
    "unknown_version",
]
"""Why a node or a field has no value: ``NodeError.kind`` (docs/spec.md#error-kinds)."""


def iso_ms(epoch_ms: float) -> str:
    """Epoch milliseconds as an ISO 8601 UTC timestamp with millisecond precision."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Model(BaseModel):
    # Every field is always serialized, so the published schema (schemas/profile.schema.json)
    # marks every field required, defaults included.
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_serialization_defaults_required=True)


class Lineage(_Model):
    """Where a field of ``data`` came from."""

    node: str | None = Field(description="Node whose result the field reads; null for key-only fields.")
    source: str | None = Field(description="The node's source; 'request' for key-only fields.")
    connector: str | None = Field(
        description="The source's connector (http, sql, a plugin's); null for keys."
    )
    config_version: str = Field(description="Version of the pipeline config the request was served with.")
    attempts: int = Field(ge=0, description="Upstream attempts the fetch made (0: none, e.g. from a cache).")
    latency_ms: float = Field(ge=0, description="How long the fetch took, retries included.")
    fetched_at: str | None = Field(
        description="When the value was fetched (a cached one: when it was stored), ISO 8601 UTC; else null."
    )
    skipped: bool = Field(False, description="The node was skipped by its `when:`; the field is null.")
    notes: list[str] = Field(default_factory=list, description="Decisions taken for this fetch, in words.")


class NodeError(_Model):
    """Why a node (or a field) has no value."""

    kind: ErrorKind = Field(description="Machine name of the failure (docs/spec.md#error-kinds).")
    message: str = Field(description="What went wrong, in words; never contains secrets.")
    attempts: int = Field(0, ge=0, description="Upstream attempts made before giving up.")
    retriable: bool = Field(False, description="Trying again later may succeed (a timeout, a 5xx, a 429).")


class Timing(_Model):
    """When the request was received and its profile completed."""

    received_at: str = Field(description="When the planner took the request, ISO 8601 UTC.")
    completed_at: str = Field(description="When the profile was assembled, ISO 8601 UTC.")
    latency_ms: float = Field(description="completed_at - received_at, in milliseconds.")


class Profile(_Model):
    """The enriched profile published on the pipeline's output topic."""

    request_id: str = Field(
        description="The request's id, given or derived from its topic, partition, offset."
    )
    pipeline: str = Field(description="Pipeline name.")
    config_version: str = Field(description="Version of the pipeline config the request was planned with.")
    status: Status = Field(
        description="complete: every node ran or was skipped; partial: the deadline passed or an optional "
        "node or a field failed (errors says which); failed: a required node failed."
    )
    keys: dict[str, str] = Field(description="The request's keys.")
    data: dict[str, Any] = Field(description="Output field -> value; a field whose node failed is absent.")
    errors: dict[str, NodeError] = Field(
        description="Node name (or 'fields.<name>', or 'pipeline') -> why it has no value; {} when complete."
    )
    lineage: dict[str, Lineage] = Field(description="Output field -> where its value came from.")
    timing: Timing
    trace_id: str | None = Field(
        None, description="OpenTelemetry trace id (32 hex digits); null if untraced."
    )
