"""The pipelines a bench run executes, written to a temporary configs folder.

* ``customer360``: a copy of ``configs/customer360.yaml``, its sources pointed at
  the demo upstreams the bench starts (``CRM_URL`` ... ``WAREHOUSE_DSN``), which
  answer with the fixed latencies of :data:`UPSTREAM_LATENCY_MS`.
* ``customer360-null``: the same graph with every source on the null connector,
  sleeping what the HTTP source would take: the orchestrator's own capacity.
* ``customer360-hold``: the same again with a long sleep in the first level, so
  requests stay in flight while memory is measured.
* ``width-N`` (N nodes in one level) and ``depth-N`` (a chain of N levels) on
  the null connector, for how cost grows with graph size.

Every request of the customer360 workloads names a customer whose credit score
is below the ``risk`` node's threshold, so all of them run all six nodes in
three levels and the critical path (crm -> orders -> risk) is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from devkit.demo import CREDIT_THRESHOLD, account_id_for, credit_score_for
from planner import Pipeline, graph_shape
from streams.liveconfig.catalog import load_catalog

UPSTREAM_LATENCY_MS: Final[Mapping[str, float]] = {
    "crm": 10.0,
    "orders": 15.0,
    "support": 5.0,
    "loyalty": 5.0,
    "risk": 10.0,
}
"""Fixed latency of each demo service (no jitter): the customer360 critical path is 35 ms."""
WAREHOUSE_NULL_MS: Final = 1.0
"""What the local SQLite query is given on the null connector."""
SWEEP_SLEEP_MS: Final = 2.0
REQUEST_DEADLINE_MS: Final = 10_000.0
"""Deadline of every bench request: a slow request is measured, not cut off as partial."""

_HOLD_CONCURRENCY: Final = 10_000

CUSTOMER360: Final = "customer360"
CUSTOMER360_NULL: Final = "customer360-null"
CUSTOMER360_HOLD: Final = "customer360-hold"

# What each customer360 node answers on the null connector: enough for every field and for
# `risk` to run (credit below the threshold).
_NULL_VALUES: Final[Mapping[str, Any]] = {
    "customer": {"account_id": "A00001", "name": "Ada", "email": "ada@example.com", "segment": "retail"},
    "orders": {"count": 2, "items": [{"order_id": "O1"}, {"order_id": "O2"}], "total_spent": 120.5},
    "tickets": {"open": 1},
    "loyalty": {"tier": "gold"},
    "credit": {"score": CREDIT_THRESHOLD - 50},
    "risk": {"level": "medium"},
}


@dataclass(frozen=True, kw_only=True)
class Workload:
    """One pipeline of the bench and what its fetches cost upstream."""

    name: str
    """Pipeline name (requests name it) and config file stem."""
    document: Mapping[str, Any]
    """The pipeline YAML, without its output topic (set when written)."""
    key_name: str
    node_ms: Mapping[str, float]
    """Upstream latency of each node: the floor's sleeps and the critical path's weights."""

    def keys(self, value: str) -> dict[str, str]:
        return {self.key_name: value}


def low_credit_customers(count: int) -> list[str]:
    """The first ``count`` customer ids whose credit score makes customer360 run ``risk``."""
    found: list[str] = []
    number = 0
    while len(found) < count:
        customer_id = f"C{number:05d}"
        if credit_score_for(account_id_for(customer_id)) < CREDIT_THRESHOLD:
            found.append(customer_id)
        number += 1
    return found


def customer360(document: Mapping[str, Any]) -> Workload:
    """The shipped pipeline on the demo upstreams (its sources read their URLs from the environment)."""
    services = {"crm": "crm", "orders": "orders", "support": "support", "loyalty": "loyalty", "risk": "risk"}
    node_ms = {
        name: UPSTREAM_LATENCY_MS.get(services.get(node["source"], ""), 0.0)
        for name, node in document["nodes"].items()
    }
    return Workload(name=CUSTOMER360, document=document, key_name="customer_id", node_ms=node_ms)


def customer360_on_null(
    document: Mapping[str, Any], *, name: str, sleep_ms: Mapping[str, float] | None = None
) -> Workload:
    """customer360's graph with every source on the null connector.

    Each source sleeps its demo service's latency, or what ``sleep_ms`` says for it.
    """
    overrides = sleep_ms or {}
    sources: dict[str, Any] = {}
    for source in document["sources"]:
        own = overrides.get(source, UPSTREAM_LATENCY_MS.get(source, WAREHOUSE_NULL_MS))
        sources[source] = {"connector": "null", "sleep_ms": own}
    nodes = {
        node: {**spec, "request": {**spec["request"], "value": _NULL_VALUES[node]}}
        for node, spec in document["nodes"].items()
    }
    converted = {**document, "pipeline": name, "sources": sources, "nodes": nodes}
    if overrides:
        converted["defaults"] = {**document.get("defaults", {}), "timeout_ms": 2 * max(overrides.values())}
    node_ms = {node: float(sources[spec["source"]]["sleep_ms"]) for node, spec in nodes.items()}
    return Workload(name=name, document=converted, key_name="customer_id", node_ms=node_ms)


def customer360_held(document: Mapping[str, Any], *, name: str, hold_ms: float) -> Workload:
    """customer360 on the null connector whose first level (crm, support) sleeps ``hold_ms``:
    its requests stay in flight that long, all at once (no concurrency limit queues them: a
    fixed one, since an adaptive limit would start low and queue them while it learns),
    then finish at the usual pace."""
    held = customer360_on_null(document, name=name, sleep_ms={"crm": hold_ms, "support": hold_ms})
    sources = {
        source: {**spec, "limits": {"max_concurrency": _HOLD_CONCURRENCY, "adaptive": False}}
        for source, spec in held.document["sources"].items()
    }
    return Workload(
        name=name,
        document={**held.document, "sources": sources},
        key_name=held.key_name,
        node_ms=held.node_ms,
    )


def _generated(name: str, nodes: dict[str, Any]) -> Workload:
    document = {
        "pipeline": name,
        "description": f"bench graph {name} (null connector, {SWEEP_SLEEP_MS:g} ms a node)",
        "output": {"key": "keys.id"},
        "defaults": {"timeout_ms": 5_000, "retries": 0, "deadline_ms": REQUEST_DEADLINE_MS},
        "sources": {"idle": {"connector": "null", "sleep_ms": SWEEP_SLEEP_MS}},
        "nodes": nodes,
        "fields": {f"f_{node}": f"{node}.request.id" for node in nodes},
    }
    return Workload(name=name, document=document, key_name="id", node_ms=dict.fromkeys(nodes, SWEEP_SLEEP_MS))


def width_graph(width: int) -> Workload:
    """``width`` independent nodes: one level."""
    nodes = {f"n{i:02d}": {"source": "idle", "request": {"id": "{keys.id}"}} for i in range(width)}
    return _generated(f"width-{width}", nodes)


def depth_graph(depth: int) -> Workload:
    """A chain of ``depth`` nodes, each reading the one before: ``depth`` levels."""
    nodes = {"n00": {"source": "idle", "request": {"id": "{keys.id}"}}}
    for i in range(1, depth):
        nodes[f"n{i:02d}"] = {"source": "idle", "request": {"id": f"{{n{i - 1:02d}.request.id}}"}}
    return _generated(f"depth-{depth}", nodes)


def write_configs(folder: Path, workloads: list[Workload], *, output_topic: str) -> None:
    """One YAML file per workload in ``folder``, every pipeline publishing to ``output_topic``."""
    folder.mkdir(parents=True, exist_ok=True)
    for workload in workloads:
        document = dict(workload.document)
        document["output"] = {**document["output"], "topic": output_topic}
        (folder / f"{workload.name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def load_workload_pipelines(folder: Path, *, env: Mapping[str, str]) -> dict[str, Pipeline]:
    """The pipelines of ``folder``, resolved with ``env``, checked against their connectors and bound
    to them."""
    return load_catalog([folder], env=env)


@dataclass(frozen=True, kw_only=True)
class GraphFacts:
    """What the bench needs to know of a workload's graph for all fields."""

    order: tuple[str, ...]
    """Nodes in dependency order."""
    deps: Mapping[str, frozenset[str]]
    levels: int
    critical_path_ms: float
    deadline_ms: float
    """The pipeline's default deadline: a request slower than this would be answered partial."""

    @property
    def tasks(self) -> int:
        return len(self.order)


def graph_facts(pipeline: Pipeline, workload: Workload) -> GraphFacts:
    shape = graph_shape(pipeline)
    _, cost = shape.critical_path(workload.node_ms)
    return GraphFacts(
        order=shape.nodes,
        deps=shape.deps,
        levels=len(shape.levels),
        critical_path_ms=cost,
        deadline_ms=pipeline.config.defaults.deadline_ms,
    )
