"""graphfetch's public events as typed faust Records (contract version 1: schemas/ in the graphfetch repo).

Codec: every Record is JSON with ``include_metadata=False``. faust's default adds a ``__faust``
property naming the class to every value; graphfetch refuses unknown request properties (the
request would go to graphfetch.dlq as ``invalid_request``), and other teams' consumers would
see it too. Without it, a topic's ``value_type`` says which Record to build.

Reading: faust keeps properties a Record does not declare (``profile.region`` of a later contract
version simply appears as an attribute), so this module keeps reading profiles of later versions,
which only add properties. A profile without ``schema_version`` comes from an older producer
(version 1).
"""

from __future__ import annotations

from typing import Any

import faust

CODEC = {"serializer": "json", "include_metadata": False}
SCHEMA_VERSION = 1


class Request(faust.Record, **CODEC):
    """A request for a profile, on graphfetch.requests (schemas/request.schema.json)."""

    pipeline: str
    keys: dict[str, str]
    request_id: str | None = None
    fields: list[str] | None = None
    deadline_ms: float | None = None
    schema_version: int = SCHEMA_VERSION


class Lineage(faust.Record, **CODEC):
    """Where a field of ``data`` came from."""

    node: str | None
    source: str | None
    connector: str | None
    config_version: str
    attempts: int
    latency_ms: float
    fetched_at: str | None
    skipped: bool = False
    notes: list[str] | None = None  # always a list on the wire


class NodeError(faust.Record, **CODEC):
    """Why a node (or a field) has no value; ``kind`` is one of docs/spec.md#error-kinds."""

    kind: str
    message: str
    attempts: int = 0
    retriable: bool = False


class Timing(faust.Record, **CODEC):
    received_at: str
    completed_at: str
    latency_ms: float


class Profile(faust.Record, **CODEC):
    """The enriched profile on a pipeline's output topic (schemas/profile.schema.json)."""

    request_id: str
    pipeline: str
    config_version: str
    status: str  # complete, partial or failed
    keys: dict[str, str]
    data: dict[str, Any]
    errors: dict[str, NodeError]
    lineage: dict[str, Lineage]
    timing: Timing
    trace_id: str | None = None
    schema_version: int = 1
