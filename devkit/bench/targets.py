"""What the measurement code drives: a runtime that answers one request, timed from outside.

The floor, the in-process engine and the Kafka runtime all look the same to
:mod:`devkit.bench.measure` and :mod:`devkit.bench.load`: ``call`` one
request and get back its status and, where the runtime reports one, the
latency stamped in its profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from devkit.bench.floor import Floor
from devkit.bench.workloads import REQUEST_DEADLINE_MS, Workload
from planner import Pipeline
from streams.engine.inprocess import InProcessEngine


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    status: str
    """complete, partial or failed (the floor's answers are complete or raise)."""
    profile_ms: float | None = None
    """The profile's own ``timing.latency_ms``: from intake to publication."""


class Target(Protocol):
    """A runtime as the bench sees it."""

    async def call(self, workload: Workload, *, key: str, request_id: str) -> Answer:
        """Run one request of ``workload`` for key value ``key`` to its answer."""


class FloorTarget:
    """The floor of each workload (see :mod:`devkit.bench.floor`)."""

    def __init__(self, floors: dict[str, Floor]) -> None:
        self._floors = floors

    async def call(self, workload: Workload, *, key: str, request_id: str) -> Answer:
        await self._floors[workload.name].execute(key)
        return Answer(status="complete")


class InProcessTarget:
    """``graphfetch run``'s engine, one engine (and connection pools) for every request."""

    def __init__(self, engine: InProcessEngine, pipelines: dict[str, Pipeline]) -> None:
        self._engine = engine
        self._pipelines = pipelines

    async def call(self, workload: Workload, *, key: str, request_id: str) -> Answer:
        emission = await self._engine.execute(
            self._pipelines[workload.name],
            keys=workload.keys(key),
            deadline_ms=REQUEST_DEADLINE_MS,
            request_id=request_id,
        )
        profile = emission.profile
        return Answer(status=profile.status, profile_ms=profile.timing.latency_ms)
