"""One started connector per distinct source, shared by every pipeline and request that uses it.

A source is identified by its connector and settings, so two pipelines (or two
versions of one) that point at the same system share its pool, breaker and
concurrency limit, while a changed URL gets a fresh client. A source nothing
has fetched from for ``idle_close_s`` (and with no attempt in flight) is
closed, so the clients of sources a config change replaced do not pile up; a
later fetch from it starts it again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from connectors import ConnectorRegistry, ResilientSource, default_registry
from planner import Pipeline, Source
from streams.engine.source_states import SourceState, source_state
from streams.telemetry import metrics

IDLE_CLOSE_S = 300.0
"""Far above any request's deadline: a source in use is fetched from long before that."""
MAX_BOUND_PIPELINES = 64
"""Pipelines loaded without the catalog whose bound copies :meth:`SourcePool.bind` keeps."""


def source_identity(name: str, source: Source) -> str:
    canonical = json.dumps(
        {"name": name, "connector": source.connector, "settings": source.settings},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


class SourcePool:
    """Starts connectors lazily, once each, and closes them all on :meth:`close`."""

    def __init__(
        self,
        *,
        registry: ConnectorRegistry | None = None,
        idle_close_s: float = IDLE_CLOSE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry or default_registry()
        self._idle_close_s = idle_close_s
        self._clock = clock
        self._next_sweep = clock() + idle_close_s
        self._sources: dict[str, ResilientSource] = {}
        self._last_used: dict[str, float] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._idents: dict[
            int, tuple[Source, str, str]
        ] = {}  # id(source) -> (source kept alive, name, ident)
        self._starting: dict[str, asyncio.Future[ResilientSource]] = {}
        self._bound: dict[int, tuple[Pipeline, Pipeline]] = {}  # id(pipeline) -> (it, kept alive; bound)
        self._closed = False
        self._unregister_gauge = metrics.register_gauge(metrics.SOURCE_LIMIT, self.limits)

    def limits(self) -> list[tuple[float, dict[str, str]]]:
        """Each started source's concurrency limit now, for the ``graphfetch.source.concurrency_limit``
        gauge (two versions of a source told apart by their identity)."""
        return [
            (
                float(source.limit),
                {"graphfetch.source": source.connector.source, "graphfetch.source.id": ident},
            )
            for ident, source in self._sources.items()
        ]

    def states(self) -> list[SourceState]:
        """Every started source as it is now (published on the stats topic)."""
        return [source_state(ident, source) for ident, source in self._sources.items()]

    def bind(self, pipeline: Pipeline) -> Pipeline:
        """``pipeline`` bound to its connectors' template escapes, if it is not yet (a pipeline
        loaded by the planner alone, not through :mod:`streams.liveconfig.catalog`); remembered
        for the last few pipelines so that each is bound once."""
        if pipeline.escapes_bound:
            return pipeline
        seen = self._bound.get(id(pipeline))
        if seen is not None and seen[0] is pipeline:
            return seen[1]
        bound = pipeline.bind_escapes(self._registry.template_escapes)
        if len(self._bound) >= MAX_BOUND_PIPELINES:
            self._bound.pop(next(iter(self._bound)))
        self._bound[id(pipeline)] = (pipeline, bound)
        return bound

    def identity(self, name: str, source: Source) -> str:
        """The source's identity (see :func:`source_identity`), computed once per source object."""
        known = self._idents.get(id(source))
        if known is not None and known[0] is source and known[1] == name:
            return known[2]
        ident = source_identity(name, source)  # hashing settings costs ~50 us: not once per fetch
        self._idents[id(source)] = (source, name, ident)
        return ident

    async def get(self, name: str, source: Source) -> ResilientSource:
        ident = self.identity(name, source)
        now = self._clock()
        if now >= self._next_sweep:
            self._close_idle(now)
        ready = self._sources.get(ident)
        if ready is not None:
            self._last_used[ident] = now
            return ready
        pending = self._starting.get(ident)
        if pending is not None:
            return await asyncio.shield(pending)
        if self._closed:
            raise RuntimeError("SourcePool is closed; create a new one to fetch again")
        future: asyncio.Future[ResilientSource] = asyncio.get_running_loop().create_future()
        self._starting[ident] = future
        try:
            resilient = await self._start(name, source)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: the caller below re-raises it
            raise
        finally:
            self._starting.pop(ident, None)
        self._sources[ident] = resilient
        self._last_used[ident] = self._clock()
        future.set_result(resilient)
        return resilient

    @property
    def started(self) -> int:
        """Sources started and not closed."""
        return len(self._sources)

    def _close_idle(self, now: float) -> None:
        self._next_sweep = now + self._idle_close_s
        for ident, used in list(self._last_used.items()):
            source = self._sources[ident]
            if now - used >= self._idle_close_s and source.in_flight == 0:
                del self._sources[ident], self._last_used[ident]
                closing = asyncio.create_task(source.connector.close())
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)

    async def _start(self, name: str, source: Source) -> ResilientSource:
        connector_cls = self._registry.get(source.connector)
        settings: Mapping[str, Any] = source.settings
        connector = connector_cls(source=name, settings=settings)
        await connector.start()
        return ResilientSource.from_settings(connector, settings)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._unregister_gauge()
        sources, self._sources = list(self._sources.values()), {}
        self._last_used.clear()
        await asyncio.gather(
            *(s.connector.close() for s in sources), *list(self._closing), return_exceptions=True
        )
