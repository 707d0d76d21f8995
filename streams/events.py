"""Events on graphfetch's topics, as pydantic models; JSON (UTF-8) on the wire.

Public events (docs/spec.md#3-events): :class:`RequestEvent` on ``graphfetch.requests``,
the profile (:class:`planner.Profile`) on a pipeline's output topic and
:class:`DeadLetter` on ``graphfetch.dlq``; their JSON Schemas are in ``schemas/``
(:mod:`streams.contracts`).

Internal events: :class:`TaskEvent` on ``graphfetch.tasks.<connector>``, and on
``graphfetch.results`` the union :data:`ResultsEvent` of
:class:`AcceptedEvent` (a request was planned), :class:`ResultEvent` (a node's
result) and :class:`CompletedEvent` (its profile was published). Everything a
request's aggregator needs travels on one partition of ``graphfetch.results``,
so its state can always be rebuilt from that partition.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from planner import SCHEMA_VERSION, ErrorKind, Failure, Outcome, RequestErrorCode, Status, Task


class _Event(BaseModel):
    # Every field is always serialized: a received event's schema marks defaults required too.
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_serialization_defaults_required=True)


SchemaVersion = Annotated[
    int, Field(ge=1, description="Version of the event contract; 1 if absent (docs/spec.md#versioning).")
]


class RequestEvent(_Event):
    """A request for a profile.

    Unknown properties are refused, except in a request of a later schema_version than the
    reader's, where they are that version's additions and are ignored.
    """

    # A misspelt `feilds` is a dead letter, not a request for every field; the exception for later
    # versions is streams.runtime.intake._from_a_newer_contract.

    schema_version: SchemaVersion = SCHEMA_VERSION
    request_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Derived from topic, partition, offset if absent: <topic>-<partition>-<offset>.",
    )
    pipeline: str = Field(..., min_length=1, max_length=128, description="Name of the pipeline to run.")
    keys: dict[str, str] = Field(..., description="Entity keys, e.g. {'customer_id': 'C042'}.")
    fields: list[str] | None = Field(None, description="Output fields wanted; all if absent.")
    deadline_ms: float | None = Field(
        None, gt=0, le=3_600_000, description="Time the request may take; the pipeline's default if absent."
    )


class RecordCoordinates(_Event):
    """Where a record was read: topic, partition and offset."""

    topic: str
    partition: int
    offset: int


class AcceptedEvent(_Event):
    """A request was planned; its aggregator starts tracking it."""

    kind: Literal["accepted"] = "accepted"
    request_id: str
    pipeline: str
    config_version: str
    keys: dict[str, str]
    fields: list[str]
    deadline_ms: float
    received_at_ms: float
    dispatched: list[str] = Field(default_factory=list, description="Task ids the planner already sent.")
    source: RecordCoordinates


class FailureModel(_Event):
    kind: ErrorKind
    message: str
    retriable: bool = False


class ResultEvent(_Event):
    """A node's result (value or failure) for one request."""

    kind: Literal["result"] = "result"
    request_id: str
    task_id: str
    node: str
    value: Any = None
    failure: FailureModel | None = None
    attempts: int = 1
    latency_ms: float = 0.0
    fetched_at_ms: float | None = None
    notes: list[str] = Field(default_factory=list)

    @classmethod
    def from_outcome(cls, task: Task, outcome: Outcome) -> ResultEvent:
        failure = outcome.failure
        return cls(
            request_id=task.request_id,
            task_id=task.task_id,
            node=outcome.node,
            value=outcome.value,
            failure=None
            if failure is None
            else FailureModel(kind=failure.kind, message=failure.message, retriable=failure.retriable),
            attempts=outcome.attempts,
            latency_ms=outcome.latency_ms,
            fetched_at_ms=outcome.fetched_at_ms,
            notes=list(outcome.notes),
        )

    def to_outcome(self) -> Outcome:
        failure = self.failure
        return Outcome(
            node=self.node,
            value=self.value,
            failure=None
            if failure is None
            else Failure(kind=failure.kind, message=failure.message, retriable=failure.retriable),
            attempts=self.attempts,
            latency_ms=self.latency_ms,
            fetched_at_ms=self.fetched_at_ms,
            notes=tuple(self.notes),
        )


class CompletedEvent(_Event):
    """A request's profile was published; replays must not publish it again."""

    kind: Literal["completed"] = "completed"
    request_id: str
    status: Status


ResultsEvent = Annotated[AcceptedEvent | ResultEvent | CompletedEvent, Field(discriminator="kind")]
results_adapter: TypeAdapter[AcceptedEvent | ResultEvent | CompletedEvent] = TypeAdapter(ResultsEvent)


_TASK_FIELDS = tuple(f.name for f in fields(Task))


class TaskEvent(_Event):
    """A node's fetch for one request, for a connector worker."""

    task_id: str
    request_id: str
    pipeline: str
    config_version: str
    node: str
    source: str
    connector: str
    request: Any
    timeout_ms: float
    retries: int
    deadline_at_ms: float
    reply_partition: int = Field(..., ge=0, description="Partition of graphfetch.results for the result.")
    dispatched_at_ms: float = Field(0.0, description="When it was published, for the queueing span.")

    @classmethod
    def from_task(cls, task: Task, *, reply_partition: int, dispatched_at_ms: float = 0.0) -> TaskEvent:
        return cls(
            **{name: getattr(task, name) for name in _TASK_FIELDS},
            reply_partition=reply_partition,
            dispatched_at_ms=dispatched_at_ms,
        )

    def to_task(self) -> Task:
        return Task(**{name: getattr(self, name) for name in _TASK_FIELDS})


class DeadLetter(_Event):
    """A request that could not be processed, with its original bytes and the reason."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    reason: str = Field(description="Why the request was refused, in words.")
    code: RequestErrorCode = Field(description="Machine name of the reason (docs/spec.md#dead-letter-codes).")
    source: RecordCoordinates = Field(description="Where the request was read.")
    key: str | None = Field(None, description="Original key, base64; null if the record had none.")
    value: str = Field(..., description="Original value, base64 (the bytes exactly as received).")
    value_size: int = Field(description="Size of the original value in bytes.")
    truncated: bool = Field(False, description="True when only the first 64 KiB of a huge value are kept.")
    failed_at: str = Field(description="When the request was refused, ISO 8601 UTC.")
