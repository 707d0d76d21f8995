"""``graphfetch plan --explain``: what the history predicts for each node and the decisions it drives.

The figures are the ones a worker would use right now (the same
:class:`~streams.engine.history.History` queries and :mod:`streams.engine.adaptive.decisions`
rules), so the explanation cannot drift from the behaviour. Each source's concurrency limit is
shown as configured (:func:`connectors.resilience.limit_settings`, as a worker reads it) and as
each worker last published it beside its history (its current limit, slots in use, waiters,
sheds and breaker: :class:`~streams.engine.source_states.WorkerSources`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors import Connector, ConnectorRegistry, SourceConfigError, UnknownConnector, default_registry
from connectors.generic_settings import limit_settings
from planner import CompiledNode, GraphShape, Pipeline
from streams.engine.adaptive.decisions import Estimates, adaptive_timeout, coalescing_enabled, hedge_delay
from streams.engine.history import History, HistoryKey
from streams.engine.source_states import WorkerSources
from streams.runtime.statstopic import StatsSync
from streams.settings import Settings


def _connector(node: CompiledNode, registry: ConnectorRegistry) -> Connector[Any] | None:
    """The node's connector, built (not started); None if it is unknown here."""
    try:
        return registry.get(node.connector)(source=node.config.source, settings=node.source.settings)
    except (UnknownConnector, SourceConfigError):  # a plugin not installed here, or unparsable settings
        return None


def _idempotent(node: CompiledNode, registry: ConnectorRegistry) -> bool | None:
    """Whether the node's requests may be hedged or shared; None if its connector is unknown here."""
    connector = _connector(node, registry)
    return None if connector is None else connector.is_idempotent(node.config.request)


def _concurrency(node: CompiledNode, registry: ConnectorRegistry) -> str:
    """The source's configured concurrency limit, in words."""
    connector = _connector(node, registry)
    if connector is None:
        return f"unknown here (connector {node.connector!r} not installed, or its settings do not parse)"
    try:
        limits = limit_settings(connector, node.source.settings)
    except SourceConfigError as exc:
        return f"invalid: {exc}"
    if not limits.adaptive:
        return f"fixed at {limits.max_concurrency} in flight"
    return (
        f"adaptive between 1 and {limits.max_concurrency} in flight, starting at {limits.start} "
        f"(tolerance {limits.tolerance:g}, backoff ratio {limits.backoff_ratio:g})"
    )


def _estimates(history: History, pipeline: str, node: CompiledNode) -> Estimates:
    key = HistoryKey.node(pipeline, node.name)
    return Estimates(
        p50=history.quantile_ms(key, 0.5),
        p95=history.quantile_ms(key, 0.95),
        p99=history.quantile_ms(key, 0.99),
        hedge_after=history.quantile_ms(key, node.policy.hedge_quantile),
    )


def _decisions(node: CompiledNode, estimates: Estimates, idempotent: bool | None) -> list[str]:
    policy = node.policy
    timeout, _ = adaptive_timeout(policy, node=node.name, configured_ms=node.timeout_ms, estimates=estimates)
    out = [
        f"timeout {timeout:.0f} ms" + (" (from history)" if timeout != node.timeout_ms else " (configured)")
    ]
    after = hedge_delay(policy, idempotent=bool(idempotent), estimates=estimates)
    if after is not None:
        out.append(
            f"hedge after {after:.0f} ms (p{policy.hedge_quantile * 100:g}, budget {policy.hedge_budget:.0%})"
        )
    elif policy.hedge is False or idempotent is False:
        out.append(
            "no hedging" + (" (not idempotent)" if idempotent is False and policy.hedge is None else "")
        )
    else:
        out.append("hedging once history has enough samples")
    if coalescing_enabled(policy, idempotent=bool(idempotent)):
        out.append("coalesced")
    if policy.cache is not None:
        out.append(f"cached {policy.cache.ttl_s:g} s in {policy.cache.store}")
    if policy.deadline_aware and estimates.p50 is not None:
        out.append(f"not started with under {estimates.p50:.0f} ms left")
    return out


@dataclass(frozen=True)
class SharedView:
    """What the stats topic holds: the cluster's history, and each worker's latest source states."""

    history: History
    sources: Mapping[str, WorkerSources] = field(default_factory=dict)


def _now(name: str, view: SharedView) -> list[str]:
    """Each worker's current state of the source ``name``, one line each."""
    lines = []
    for worker, published in sorted(view.sources.items()):
        age_s = view.history.clock() - published.at_s
        for state in published.sources:
            if state.source == name:
                lines.append(
                    f"      now on {worker} ({age_s:.0f} s ago): limit {state.limit}, {state.in_flight} in flight, "
                    f"{state.waiting} waiting, {state.shed} shed, breaker {state.breaker}"
                )
    return lines or ["      no worker has published its state of this source yet"]


def explain_text(
    pipeline: Pipeline, shape: GraphShape, view: SharedView, *, registry: ConnectorRegistry | None = None
) -> str:
    registry = registry or default_registry()
    history = view.history
    lines = [f"pipeline {pipeline.name}  version {pipeline.version}", "predicted from execution history:"]
    cost: dict[str, float] = {}
    for node_name in shape.nodes:
        node = pipeline.nodes[node_name]
        estimates = _estimates(history, pipeline.name, node)
        key = HistoryKey.node(pipeline.name, node_name)
        if estimates.p50 is None:
            seen = f"no history yet ({history.count(key):.0f} of {history.min_samples:g} samples)"
            cost[node_name] = node.timeout_ms
        else:
            errors = history.error_rate(key)
            seen = (
                f"p50 {estimates.p50:.1f} ms  p95 {estimates.p95 or 0:.1f} ms  p99 {estimates.p99 or 0:.1f} ms"
                f"  errors {errors or 0:.1%}  ({history.count(key):.0f} samples)"
            )
            cost[node_name] = estimates.p50
        lines.append(f"  {node_name} ({node.config.source}/{node.connector}): {seen}")
        lines.append(f"      {'; '.join(_decisions(node, estimates, _idempotent(node, registry)))}")
    lines.append("concurrency limits, as configured and as each worker last published them:")
    shown: set[str] = set()
    for node_name in shape.nodes:
        node = pipeline.nodes[node_name]
        if node.config.source not in shown:
            shown.add(node.config.source)
            lines.append(f"  {node.config.source} ({node.connector}): {_concurrency(node, registry)}")
            lines += _now(node.config.source, view)
    path, total = shape.critical_path(cost)
    unknown = [n for n in path if _estimates(history, pipeline.name, pipeline.nodes[n]).p50 is None]
    note = f" ({', '.join(unknown)} at their configured timeout: no history)" if unknown else ""
    lines.append(f"critical path: {' -> '.join(path)}: predicted {total:.1f} ms at p50{note}")
    return "\n".join(lines)


async def read_shared(settings: Settings, *, timeout_s: float = 15.0) -> SharedView:
    """The cluster's shared history and source states, read from the stats topic (read-only; bounded
    by ``timeout_s``)."""
    history = History(half_life_s=settings.history_half_life_s, min_samples=settings.history_min_samples)
    sync = StatsSync(
        settings,
        history,
        producer=None,
        worker_id=f"explain-{uuid.uuid4().hex[:8]}",
    )
    async with asyncio.timeout(timeout_s):
        await sync.start()
    await sync.stop()
    return SharedView(history, dict(sync.peer_sources))
