"""Each source as the workers last published it: breaker, current concurrency limit, slots in use.

Workers publish their started sources' states beside their history on the stats
topic (:class:`~streams.engine.source_states.WorkerSources`, every
``GRAPHFETCH_STATS_INTERVAL_S``). The console sums them per source name over the
workers whose latest record is recent (a stopped worker's record stays on the
compacted topic: older than ``max_age_s``, it no longer counts), and shows the
worst breaker state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from streams.engine.source_states import WorkerSources

BREAKER_ORDER = ("closed", "half_open", "open")
"""From best to worst."""


@dataclass(kw_only=True)
class SourceNow:
    """One source over the workers that started it."""

    workers: int = 0
    open_on: int = 0
    worst: str = "closed"
    limit: int = 0
    max_concurrency: int = 0
    adaptive: bool = False
    in_flight: int = 0
    waiting: int = 0
    shed: int = 0

    @property
    def breaker(self) -> str:
        """``closed``; ``open`` (on every worker); ``open on 1 of 2`` (on some)."""
        if self.worst == "closed" or self.open_on == self.workers:
            return self.worst
        return f"{self.worst} on {self.open_on} of {self.workers}"


def sources_now(
    states: Mapping[str, WorkerSources], *, now_s: float, max_age_s: float
) -> dict[str, SourceNow]:
    """Per source name, what the workers that published within ``max_age_s`` say."""
    found: dict[str, SourceNow] = {}
    for published in states.values():
        if now_s - published.at_s > max_age_s:
            continue
        for state in published.sources:
            now = found.setdefault(state.source, SourceNow())
            now.workers += 1
            now.open_on += state.breaker != "closed"
            if BREAKER_ORDER.index(state.breaker) > BREAKER_ORDER.index(now.worst):
                now.worst = state.breaker
            now.limit += state.limit
            now.max_concurrency += state.max_concurrency
            now.adaptive = now.adaptive or state.adaptive
            now.in_flight += state.in_flight
            now.waiting += state.waiting
            now.shed += state.shed
    return found
