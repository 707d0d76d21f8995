"""What each started source of a worker looks like now: its concurrency limit, slots, breaker, sheds.

A worker publishes its sources' states beside its execution history on the stats
topic (:mod:`streams.runtime.statstopic`), so that ``graphfetch plan --explain``
and other readers of the cluster see each worker's *current* limit, which lives
in the worker and is not part of the shared history.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors import ResilientSource

STATES_SCHEMA: Literal[1] = 1


class SourceState(BaseModel):
    """One started source of one worker."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    source: str = Field(description="The source's name in its pipelines.")
    id: str = Field(description="Its identity (connector and settings): two versions of a source differ.")
    connector: str
    limit: int = Field(description="Attempts allowed in flight now.")
    adaptive: bool = Field(description="Whether the limit is learned from latency, or fixed.")
    max_concurrency: int = Field(description="The limit's ceiling (fixed: the limit).")
    in_flight: int
    waiting: int = Field(description="Fetches queued for a slot (adaptive limit only).")
    shed: int = Field(description="Fetches shed since the source started.")
    breaker: Literal["closed", "open", "half_open"]


class WorkerSources(BaseModel):
    """Every started source of one worker at ``at_s``, as published on the stats topic."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_: Literal[1] = Field(STATES_SCHEMA, alias="schema")
    worker: str
    at_s: float = Field(description="Epoch seconds the states were read.")
    sources: list[SourceState]


def source_state(ident: str, source: ResilientSource) -> SourceState:
    admission = source.admission
    return SourceState(
        source=source.connector.source,
        id=ident,
        connector=source.connector.name,
        limit=source.limit,
        adaptive=admission is not None,
        max_concurrency=source.max_concurrency,
        in_flight=source.in_flight,
        waiting=0 if admission is None else admission.waiting,
        shed=0 if admission is None else admission.shed,
        breaker=source.breaker.state.value,
    )
