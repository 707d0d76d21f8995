"""The pipelines a worker serves, by name and by version.

A request is planned and finished with one version: the aggregator and the
connector workers look pipelines up by the version the request was planned
with, so a version stays available while requests planned with it are in flight.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping

from planner import Pipeline

log = logging.getLogger(__name__)
MAX_VERSIONS_KEPT = 64


class PipelineStore:
    """Current pipelines plus recent versions."""

    def __init__(self, pipelines: Mapping[str, Pipeline] | None = None) -> None:
        self._current: dict[str, Pipeline] = {}
        self._versions: OrderedDict[tuple[str, str], Pipeline] = OrderedDict()
        for pipeline in (pipelines or {}).values():
            self.activate(pipeline)

    def activate(self, pipeline: Pipeline) -> None:
        self._current[pipeline.name] = pipeline
        self._versions[(pipeline.name, pipeline.version)] = pipeline
        self._versions.move_to_end((pipeline.name, pipeline.version))
        while len(self._versions) > MAX_VERSIONS_KEPT:
            self._versions.popitem(last=False)

    def current(self, name: str) -> Pipeline | None:
        return self._current.get(name)

    def names(self) -> list[str]:
        return sorted(self._current)

    def all_current(self) -> list[Pipeline]:
        return list(self._current.values())

    def version(self, name: str, version: str) -> Pipeline | None:
        """The exact version, else the current one (logged: the request finishes on it)."""
        found = self._versions.get((name, version))
        if found is not None:
            return found
        current = self._current.get(name)
        if current is not None:
            log.warning(
                "pipeline %s version %s is unknown here; using current version %s",
                name,
                version,
                current.version,
            )
        return current
