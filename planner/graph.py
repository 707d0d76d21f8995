"""The request-time graph: exactly the nodes a request's fields need, in dependency levels.

Planning is on the hot path of every request, so the shape of the graph for a
field selection is computed once per pipeline version and reused; planning a
request then only checks its keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from planner.errors import RequestError
from planner.pipeline import Pipeline

MAX_CACHED_SHAPES = 256


@dataclass(frozen=True, kw_only=True)
class GraphShape:
    """The pruned graph for one field selection; the same for every request that asks for it."""

    fields: tuple[str, ...]
    nodes: tuple[str, ...]
    deps: Mapping[str, frozenset[str]]
    dependents: Mapping[str, tuple[str, ...]]
    levels: tuple[tuple[str, ...], ...]
    key_names: frozenset[str]
    index: Mapping[str, int]
    """Each node's position in ``nodes`` (a topological order)."""
    primaries: Mapping[str, str | None]
    """Each field's lineage node: the last node in ``nodes`` that it reads; None for key-only fields."""

    def critical_path(self, cost: Mapping[str, float] | None = None) -> tuple[tuple[str, ...], float]:
        """The costliest dependency chain; each node costs ``cost[node]`` (default 1)."""
        best: dict[str, tuple[float, tuple[str, ...]]] = {}
        for name in self.nodes:  # topological order
            own = 1.0 if cost is None else float(cost.get(name, 1.0))
            prev = max((best[d] for d in self.deps[name]), default=(0.0, ()), key=lambda b: b[0])
            best[name] = (prev[0] + own, (*prev[1], name))
        if not best:
            return (), 0.0
        total, path = max(best.values(), key=lambda b: b[0])
        return path, total


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """A request's graph: the shape plus the request's own keys."""

    pipeline: Pipeline
    shape: GraphShape
    keys: Mapping[str, str]

    @property
    def fields(self) -> tuple[str, ...]:
        return self.shape.fields

    @property
    def nodes(self) -> tuple[str, ...]:
        return self.shape.nodes

    @property
    def levels(self) -> tuple[tuple[str, ...], ...]:
        return self.shape.levels


def graph_shape(pipeline: Pipeline, fields: Iterable[str] | None = None) -> GraphShape:
    """Prune the pipeline to the nodes the fields need (transitively) and level them."""
    wanted = frozenset(pipeline.fields) if fields is None else frozenset(fields)
    cached = pipeline.shapes.get(wanted)
    if isinstance(cached, GraphShape):
        return cached
    unknown = sorted(wanted - set(pipeline.fields))
    if unknown:
        known = ", ".join(pipeline.fields)
        raise RequestError(
            f"unknown field(s) {', '.join(map(repr, unknown))} for pipeline '{pipeline.name}' (known: {known})",
            code="unknown_field",
        )
    if not wanted:
        raise RequestError(
            "'fields' is empty: ask for at least one field, or omit it for all", code="no_fields"
        )
    needed: set[str] = set()
    stack = [n for f in wanted for n in pipeline.fields[f].nodes]
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(pipeline.nodes[name].deps)
    order = tuple(n for n in pipeline.topo_order if n in needed)
    deps = {n: pipeline.nodes[n].deps for n in order}
    depth: dict[str, int] = {}
    for n in order:
        depth[n] = 1 + max((depth[d] for d in deps[n]), default=-1)
    levels = tuple(
        tuple(sorted(n for n in order if depth[n] == lvl))
        for lvl in range(max(depth.values(), default=-1) + 1)
    )
    dependents = {n: tuple(m for m in order if n in deps[m]) for n in order}
    key_names: set[str] = set()
    for n in order:
        key_names |= pipeline.nodes[n].key_refs
    for f in wanted:
        key_names |= pipeline.fields[f].key_refs()
    key_names |= pipeline.output_key.key_refs()
    shape = GraphShape(
        fields=tuple(f for f in pipeline.fields if f in wanted),
        nodes=order,
        deps=deps,
        dependents=dependents,
        levels=levels,
        key_names=frozenset(key_names),
        index={n: i for i, n in enumerate(order)},
        primaries={
            f: next((n for n in reversed(order) if n in pipeline.fields[f].nodes), None) for f in wanted
        },
    )
    if len(pipeline.shapes) >= MAX_CACHED_SHAPES:
        pipeline.shapes.pop(next(iter(pipeline.shapes)))
    pipeline.shapes[wanted] = shape
    return shape


def plan_request(pipeline: Pipeline, *, keys: Mapping[str, str], fields: Iterable[str] | None = None) -> Plan:
    """Plan one request: its graph, after checking that it carries the keys the graph reads."""
    shape = graph_shape(pipeline, fields)
    missing = sorted(shape.key_names - set(keys))
    if missing:
        raise RequestError(
            f"missing key(s) {', '.join(map(repr, missing))} for pipeline '{pipeline.name}'",
            code="missing_key",
        )
    for name, value in keys.items():
        spec = pipeline.keys.get(name)
        if spec is None:
            continue
        if len(value) > spec.max_length:
            raise RequestError(
                f"key '{name}' is longer than {spec.max_length} characters", code="invalid_key"
            )
        if spec.pattern is not None and re.fullmatch(spec.pattern, value) is None:
            shown = "value" if spec.sensitive else repr(value)
            raise RequestError(
                f"key '{name}': {shown} does not match pattern {spec.pattern!r}", code="invalid_key"
            )
    return Plan(pipeline=pipeline, shape=shape, keys=dict(keys))
