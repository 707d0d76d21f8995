"""Pipeline config models: the contract of a pipeline YAML file (docs/spec.md#2-pipeline-configuration).

These models describe the *shape* of a config; :mod:`planner.validation` checks
what spans several parts (sources exist, references resolve, no cycles) and
:mod:`planner.loading` reads files. ``configs/pipeline.schema.json`` is generated
from :class:`PipelineConfig`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
PIPELINE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
TOPIC_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"
RESERVED_NAMES = frozenset({"keys"})

Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]


def _not_reserved(name: str) -> str:
    """Refuse node names that expressions use for something else; the error names the node."""
    if name in RESERVED_NAMES:
        raise PydanticCustomError(
            "reserved_name", "'{name}' is reserved for the request's keys; rename the node", {"name": name}
        )
    return name


NodeName = Annotated[Name, AfterValidator(_not_reserved)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cache(_Model):
    """A node's TTL cache: identical fetches within ``ttl_s`` are served without an upstream call."""

    ttl_s: float = Field(..., gt=0, le=86_400, description="How long a fetched value may be served again.")
    store: Literal["memory", "redis"] = Field(
        "memory", description="memory: per worker; redis: shared by every worker (GRAPHFETCH_REDIS_URL)."
    )


class Adaptive(_Model):
    """Decisions learned from execution history. Unset fields inherit: node, then pipeline, then the
    built-in default. Each default is on only where it is safe (see docs/adaptive.md)."""

    timeouts: bool | None = Field(
        None, description="Lower the attempt timeout to timeout_factor x the observed p99 (default off)."
    )
    timeout_factor: float | None = Field(None, ge=1.0, le=100.0, description="Default 3.")
    min_timeout_ms: float | None = Field(None, gt=0, le=600_000, description="Adaptive floor, default 50 ms.")
    hedge: bool | None = Field(
        None, description="Second attempt after the observed p95 (default on for idempotent fetches)."
    )
    hedge_quantile: float | None = Field(None, ge=0.5, le=0.999, description="Default 0.95.")
    hedge_budget: float | None = Field(
        None, ge=0.0, le=1.0, description="Extra calls hedging may add, as a share of calls (default 0.05)."
    )
    coalesce: bool | None = Field(
        None, description="Identical in-flight fetches share one call (default on for idempotent fetches)."
    )
    deadline_aware: bool | None = Field(
        None, description="Do not start a node whose predicted p50 exceeds the time left (default on)."
    )
    critical_path_first: bool | None = Field(
        None,
        description="On a saturated worker, run tasks with the longest predicted path first (default on).",
    )


class Defaults(_Model):
    """Per-node and per-request defaults; a node or a request may override them."""

    timeout_ms: float = Field(300, gt=0, le=600_000, description="Timeout of one fetch attempt.")
    retries: int = Field(2, ge=0, le=10, description="Extra attempts after the first, for retryable errors.")
    deadline_ms: float = Field(
        1000,
        gt=0,
        le=3_600_000,
        description="Time a request may take before a partial profile is sent.",
    )
    adaptive: Adaptive = Field(default_factory=Adaptive, description="Pipeline-wide adaptive decisions.")


class Output(_Model):
    """Where profiles go."""

    topic: str = Field("profiles.enriched", pattern=TOPIC_PATTERN, description="Kafka topic of the profiles.")
    key: str = Field(..., description="JMESPath expression for the Kafka key of a profile.")


class KeySpec(_Model):
    """A request key: how to check it and whether its value is sensitive."""

    pattern: str | None = Field(None, description="Regular expression a value must match in full.")
    max_length: int = Field(256, gt=0, le=4096, description="Longest accepted value.")
    sensitive: bool = Field(False, description="Never put the value in traces or logs.")
    description: str | None = None


class Source(BaseModel):
    """An upstream system. ``connector`` picks the connector; other keys are the connector's settings."""

    model_config = ConfigDict(extra="allow", frozen=True)

    connector: str = Field(..., pattern=NAME_PATTERN, description="Connector name (http, sql, or a plugin).")
    description: str | None = None

    @property
    def settings(self) -> dict[str, Any]:
        """Everything but ``connector`` and ``description``: what the connector receives."""
        return dict(self.model_extra or {})


class Node(_Model):
    """One fetch. Its dependencies are inferred from the expressions it uses."""

    source: str = Field(..., description="Name of a source of this pipeline.")
    request: dict[str, Any] = Field(
        default_factory=dict,
        description="Connector request; strings are templates: '/x/{keys.id}'.",
    )
    when: str | None = Field(None, description="JMESPath condition; the node is skipped when it is falsy.")
    depends_on: list[Name] = Field(default_factory=list, description="Extra dependencies.")
    optional: bool = Field(False, description="A failure makes the profile partial instead of failed.")
    timeout_ms: float | None = Field(None, gt=0, le=600_000)
    retries: int | None = Field(None, ge=0, le=10)
    adaptive: Adaptive = Field(default_factory=Adaptive, description="Overrides of the pipeline's adaptive.")
    cache: Cache | None = Field(None, description="Serve repeated fetches from a TTL cache.")
    description: str | None = None


class PipelineConfig(_Model):
    """One pipeline: sources, fetch nodes and the output fields built from their results."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"$id": "https://graphfetch.dev/schemas/pipeline.schema.json"},
    )

    pipeline: str = Field(..., pattern=PIPELINE_PATTERN, max_length=128, description="Name used by requests.")
    description: str | None = None
    output: Output
    defaults: Defaults = Field(default_factory=Defaults)
    keys: dict[Name, KeySpec] = Field(default_factory=dict, description="Optional checks on request keys.")
    sources: dict[Name, Source] = Field(..., min_length=1)
    nodes: dict[NodeName, Node] = Field(..., min_length=1)
    fields: dict[Name, str] = Field(..., min_length=1, description="Output field -> JMESPath expression.")
