"""Critical-path-first: a task's priority is the latency predicted from it to the end of its graph.

``remaining(node) = p50(node) + max(remaining(d) for d in dependents(node))``
over the whole pipeline: the node that heads the longest predicted chain runs
first when a worker is saturated, because delaying it delays the profile most.
Nodes without history count their configured timeout's tenth, so a graph with
no history yet is still ordered by depth. Figures are recomputed at most once
per ``refresh_s`` per pipeline version.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from planner import Pipeline

NodeP50 = Callable[[str, str], float | None]
"""(pipeline, node) -> the node's observed p50 in ms, or None without enough history."""

_UNKNOWN_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class _Entry:
    computed_at: float
    remaining: dict[str, float]


class PathPredictor:
    def __init__(
        self, p50: NodeP50, *, refresh_s: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._p50 = p50
        self._refresh_s = refresh_s
        self._clock = clock
        self._cache: dict[tuple[str, str], _Entry] = {}

    def remaining_ms(self, pipeline: Pipeline, node: str) -> float:
        key = (pipeline.name, pipeline.version)
        entry = self._cache.get(key)
        now = self._clock()
        if entry is None or now - entry.computed_at >= self._refresh_s:
            entry = _Entry(now, self._compute(pipeline))
            self._cache[key] = entry
            if len(self._cache) > 256:  # old versions: drop the oldest computation
                del self._cache[min(self._cache, key=lambda k: self._cache[k].computed_at)]
        return entry.remaining.get(node, 0.0)

    def _compute(self, pipeline: Pipeline) -> dict[str, float]:
        dependents: dict[str, list[str]] = {name: [] for name in pipeline.nodes}
        for name, node in pipeline.nodes.items():
            for dep in node.deps:
                dependents[dep].append(name)
        remaining: dict[str, float] = {}
        for name in reversed(pipeline.topo_order):
            node = pipeline.nodes[name]
            own = self._p50(pipeline.name, name)
            cost = own if own is not None else node.timeout_ms * _UNKNOWN_SHARE
            remaining[name] = cost + max((remaining[d] for d in dependents[name]), default=0.0)
        return remaining
