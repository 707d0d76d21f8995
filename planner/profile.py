"""The profile: what a request's consumers receive (SPEC.md section 3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["complete", "partial", "failed"]


def iso_ms(epoch_ms: float) -> str:
    """Epoch milliseconds as an ISO 8601 UTC timestamp with millisecond precision."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lineage(_Model):
    """Where a field of ``data`` came from."""

    node: str | None = Field(description="Node whose result the field reads; null for key-only fields.")
    source: str | None
    connector: str | None
    config_version: str
    attempts: int = Field(ge=0)
    latency_ms: float = Field(ge=0)
    fetched_at: str | None
    skipped: bool = Field(False, description="The node was skipped by its `when:`; the field is null.")
    notes: list[str] = Field(default_factory=list, description="Decisions taken for this fetch, in words.")


class NodeError(_Model):
    """Why a node (or a field) has no value."""

    kind: str = Field(description="Machine name: timeout, not_found, deadline, dependency_failed, ...")
    message: str
    attempts: int = Field(0, ge=0)
    retriable: bool = False


class Timing(_Model):
    received_at: str
    completed_at: str
    latency_ms: float


class Profile(_Model):
    """The enriched profile published on the pipeline's output topic."""

    request_id: str
    pipeline: str
    config_version: str
    status: Status
    keys: dict[str, str]
    data: dict[str, Any]
    errors: dict[str, NodeError]
    lineage: dict[str, Lineage]
    timing: Timing
    trace_id: str | None = None
