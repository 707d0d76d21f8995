"""The pipelines a worker serves, by name and by version.

A request is planned with the version current at that moment and finished with
that same version: the aggregator and the connector workers look pipelines up
by the version the request was planned with, waiting briefly for a version that
another worker activated first and that this one has not received yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping

from planner import Pipeline
from streams.liveconfig.catalog import bind_connectors

log = logging.getLogger(__name__)
MAX_VERSIONS_KEPT = 256


class PipelineStore:
    """Current pipelines plus recent versions; a change wakes whoever waits for a version."""

    def __init__(self, pipelines: Mapping[str, Pipeline] | None = None) -> None:
        self._current: dict[str, Pipeline] = {}
        self._versions: OrderedDict[tuple[str, str], Pipeline] = OrderedDict()
        self._removed: set[str] = set()
        self._changed = asyncio.Condition()
        self._wakers: set[asyncio.Task[None]] = set()
        for pipeline in (pipelines or {}).values():
            self.activate(pipeline)

    def add_version(self, pipeline: Pipeline) -> Pipeline:
        """Know a version (so requests planned with it can finish) without serving it; returns it as
        kept, bound to its connectors' escapes (:func:`~streams.liveconfig.catalog.bind_connectors`)."""
        if not pipeline.escapes_bound:
            pipeline = bind_connectors(pipeline)
        key = (pipeline.name, pipeline.version)
        self._versions[key] = pipeline
        self._versions.move_to_end(key)
        while len(self._versions) > MAX_VERSIONS_KEPT:
            self._versions.popitem(last=False)
        self._notify()
        return pipeline

    def activate(self, pipeline: Pipeline) -> bool:
        """Serve this version for new requests; return False if it already was the current one."""
        pipeline = self.add_version(pipeline)
        previous = self._current.get(pipeline.name)
        self._removed.discard(pipeline.name)
        if previous is not None and previous.version == pipeline.version:
            return False
        self._current[pipeline.name] = pipeline
        if previous is not None:
            log.info("pipeline %s: version %s replaces %s", pipeline.name, pipeline.version, previous.version)
        return True

    def remove(self, name: str) -> bool:
        """Stop serving a pipeline; requests planned with it still finish."""
        if self._current.pop(name, None) is None:
            return False
        self._removed.add(name)
        log.info("pipeline %s removed", name)
        return True

    def was_removed(self, name: str) -> bool:
        return name in self._removed

    def current(self, name: str) -> Pipeline | None:
        return self._current.get(name)

    def names(self) -> list[str]:
        return sorted(self._current)

    def all_current(self) -> list[Pipeline]:
        return list(self._current.values())

    def known_version(self, name: str, version: str) -> Pipeline | None:
        return self._versions.get((name, version))

    async def version(self, name: str, version: str, *, wait_s: float = 5.0) -> Pipeline | None:
        """The exact version; wait up to ``wait_s`` for it to arrive, else None."""
        found = self._versions.get((name, version))
        if found is not None or wait_s <= 0:
            return found
        try:
            async with asyncio.timeout(wait_s), self._changed:
                await self._changed.wait_for(lambda: (name, version) in self._versions)
        except TimeoutError:
            log.error("pipeline %s version %s is unknown to this worker after %.1f s", name, version, wait_s)
            return None
        return self._versions.get((name, version))

    def _notify(self) -> None:
        async def wake() -> None:
            async with self._changed:
                self._changed.notify_all()

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no one can be waiting outside a running loop
        task = loop.create_task(wake())
        self._wakers.add(task)
        task.add_done_callback(self._wakers.discard)
