"""Live health, from what the cluster publishes: history sketches and recent profiles.

Three sources, all on Kafka:

* the workers' shared history (``graphfetch.stats``, every
  ``GRAPHFETCH_STATS_INTERVAL_S``): latency quantiles of successful fetches and
  error rates, per node and per source, decayed with the history's half-life;
* the profiles of the last :data:`WINDOW_S` seconds: requests per second and
  statuses, and per node what its lineage and errors say (timeouts, breaker
  refusals, hedges, cache hits, shared fetches).

* each worker's source states, published beside its history
  (:mod:`streams.console.sources_now`): breaker state, current concurrency
  limit, fetches in flight and waiting, sheds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from planner import Pipeline, Profile
from streams.console.profiles import ProfileBook
from streams.console.sources_now import SourceNow, sources_now
from streams.engine.history import History, HistoryKey
from streams.engine.source_states import WorkerSources

NONE = "\u2013"  # an en dash: no figure
WINDOW_S = 60.0
RATE_WINDOW_S = 10.0
DEFAULT_MAX_CONCURRENCY = 32
# How lineage notes begin for each decision (streams/engine/adaptive/fetcher.py; docs/adaptive.md).
HEDGED = "hedged after"
CACHED = "served from cache"
SHARED = "shared an identical in-flight fetch"
NOT_FETCHED = frozenset({"dependency_failed", "unknown_pipeline", "unknown_version"})
"""Error kinds of a node that never reached its source: not counted as fetches."""


@dataclass(kw_only=True)
class Activity:
    """What recent profiles say about one node (or one source)."""

    fetches: int = 0
    failures: int = 0
    timeouts: int = 0
    breaker_refusals: int = 0
    hedged: int = 0
    cache_hits: int = 0
    shared: int = 0
    skipped: int = 0

    def add(self, other: Activity) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True, kw_only=True)
class Figures:
    """History's figures for one key (None: no successful fetch recorded)."""

    p50: float | None
    p95: float | None
    p99: float | None
    error_rate: float | None
    samples: float


@dataclass(kw_only=True)
class Row:
    pipeline: str
    name: str
    source: str
    figures: Figures
    activity: Activity
    max_concurrency: int | None = None
    now: SourceNow | None = None
    """Sources only: what the workers last published (None: no worker published it recently)."""


@dataclass(kw_only=True)
class HealthReport:
    now_ms: float
    requests_per_s: float
    statuses: Counter[str]
    profiles_in_window: int
    nodes: list[Row] = field(default_factory=list)
    sources: list[Row] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Figures by element id, for the page's live updates."""
        cells: dict[str, str] = {
            "rps": f"{self.requests_per_s:.1f}",
            "window-profiles": str(self.profiles_in_window),
        }
        for status in ("complete", "partial", "failed"):
            cells[f"status-{status}"] = str(self.statuses.get(status, 0))
        for kind, rows in (("node", self.nodes), ("source", self.sources)):
            for row in rows:
                for name, value in cells_of(row).items():
                    cells[f"{kind}-{row.pipeline}-{row.name}-{name}"] = value
        return cells


def figures(history: History, key: HistoryKey) -> Figures:
    return Figures(
        p50=history.quantile_ms(key, 0.5),
        p95=history.quantile_ms(key, 0.95),
        p99=history.quantile_ms(key, 0.99),
        error_rate=history.error_rate(key),
        samples=history.count(key),
    )


def ms(value: float | None) -> str:
    return NONE if value is None else f"{value:.1f} ms"


def share(part: int, whole: int) -> str:
    return NONE if whole == 0 else f"{part / whole:.0%}"


def cells_of(row: Row) -> dict[str, str]:
    """A row's displayed figures by column name (the page and the live updates use the same text)."""
    f, a, now = row.figures, row.activity, row.now
    state = {}
    if row.max_concurrency is not None:  # a source
        state = {
            "state": NONE if now is None else now.breaker,
            "limit": f"{NONE} / {row.max_concurrency}"
            if now is None
            else f"{now.limit} / {now.max_concurrency}" + (" adaptive" if now.adaptive else ""),
            "in-flight": NONE if now is None else f"{now.in_flight} + {now.waiting} waiting",
            "shed": NONE if now is None else str(now.shed),
        }
    return {
        **state,
        "p50": ms(f.p50),
        "p95": ms(f.p95),
        "p99": ms(f.p99),
        "errors": NONE if f.error_rate is None else f"{f.error_rate:.1%}",
        "samples": f"{f.samples:.0f}",
        "fetches": str(a.fetches),
        "timeouts": share(a.timeouts, a.fetches),
        "refused": str(a.breaker_refusals),
        "hedged": str(a.hedged),
        "cache": share(a.cache_hits, a.fetches),
        "shared": str(a.shared),
    }


def _activity_per_node(
    book: ProfileBook, since_ms: float
) -> tuple[dict[tuple[str, str], Activity], list[Profile]]:
    """What the profiles completed since ``since_ms`` say about each ``(pipeline, node)``, and those profiles."""
    per_node: dict[tuple[str, str], Activity] = {}
    profiles: list[Profile] = []
    for entry in book.since(since_ms):
        profile = entry.profile
        profiles.append(profile)
        seen: set[str] = set()
        for lineage in profile.lineage.values():
            node = lineage.node
            if node is None or node in seen:
                continue
            seen.add(node)
            activity = per_node.setdefault((profile.pipeline, node), Activity())
            if lineage.skipped:
                activity.skipped += 1
                continue
            activity.fetches += 1
            notes = lineage.notes
            activity.hedged += any(n.startswith(HEDGED) for n in notes)
            activity.cache_hits += any(n.startswith(CACHED) for n in notes)
            activity.shared += any(n.startswith(SHARED) for n in notes)
        for node, error in profile.errors.items():
            if node in seen or "." in node or node == "pipeline" or error.kind in NOT_FETCHED:
                continue
            activity = per_node.setdefault((profile.pipeline, node), Activity())
            activity.fetches += 1
            activity.failures += 1
            activity.timeouts += error.kind == "timeout"
            activity.breaker_refusals += error.kind == "circuit_open"
    return per_node, profiles


def health_report(
    *,
    book: ProfileBook,
    history: History,
    pipelines: list[Pipeline],
    now_ms: float,
    states: Mapping[str, WorkerSources] | None = None,
    states_max_age_s: float = WINDOW_S,
) -> HealthReport:
    """Every node and source of the served pipelines, with history's figures and the last minute's."""
    per_node, recent = _activity_per_node(book, now_ms - WINDOW_S * 1000)
    published = sources_now(states or {}, now_s=now_ms / 1000, max_age_s=states_max_age_s)
    rate_from = now_ms - RATE_WINDOW_S * 1000
    report = HealthReport(
        now_ms=now_ms,
        requests_per_s=sum(1 for e in book.since(rate_from)) / RATE_WINDOW_S,
        statuses=Counter(p.status for p in recent),
        profiles_in_window=len(recent),
    )
    for pipeline in pipelines:
        per_source: dict[str, Activity] = {}
        for node in pipeline.topo_order:
            compiled = pipeline.nodes[node]
            activity = per_node.get((pipeline.name, node), Activity())
            per_source.setdefault(compiled.config.source, Activity()).add(activity)
            report.nodes.append(
                Row(
                    pipeline=pipeline.name,
                    name=node,
                    source=compiled.config.source,
                    figures=figures(history, HistoryKey.node(pipeline.name, node)),
                    activity=activity,
                )
            )
        for source_name, source in sorted(pipeline.config.sources.items()):
            limits = source.settings.get("limits") or {}
            report.sources.append(
                Row(
                    pipeline=pipeline.name,
                    name=source_name,
                    source=source.connector,
                    figures=figures(history, HistoryKey.source(pipeline.name, source_name)),
                    activity=per_source.get(source_name, Activity()),
                    max_concurrency=int(limits.get("max_concurrency", DEFAULT_MAX_CONCURRENCY)),
                    now=published.get(source_name),
                )
            )
    return report
