"""A validated, compiled pipeline: every expression parsed, every dependency resolved.

:func:`compile_pipeline` turns a :class:`~planner.config.PipelineConfig` into a
:class:`Pipeline` or raises :class:`~planner.errors.ConfigError` listing every
problem: unknown sources, references to unknown nodes, cycles, bad expressions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

from planner.adaptive import AdaptivePolicy, resolve_policy
from planner.config import KeySpec, Node, PipelineConfig, Source
from planner.errors import ConfigError, Problem
from planner.expressions import (
    KEYS,
    Expression,
    ExpressionError,
    Template,
    iter_templates,
)

Escape: TypeAlias = Callable[[str], str]
"""How one value substituted into a request field is escaped: the node's connector's rule (an HTTP
path percent-encodes it into one segment). The planner knows the template syntax, not the field's."""

STAND_IN = "x"
"""What each ``{expression}`` of a request becomes in :meth:`CompiledNode.request_outline`."""


@dataclass(frozen=True, kw_only=True)
class CompiledNode:
    """A node with its expressions compiled and its dependencies known."""

    name: str
    config: Node
    source: Source
    request: Any
    when: Expression | None
    deps: frozenset[str]
    key_refs: frozenset[str]
    timeout_ms: float
    retries: int
    policy: AdaptivePolicy
    escapes: Mapping[str, Escape] = field(default_factory=dict)
    """Per top-level request field, how its substituted values are escaped; bound from the node's
    connector when a runtime admits the pipeline (:meth:`Pipeline.bind_escapes`)."""

    @property
    def connector(self) -> str:
        return self.source.connector

    @property
    def optional(self) -> bool:
        return self.config.optional

    def render_request(self, context: Mapping[str, Any]) -> Any:
        """Render this node's request for one request's context; each value substituted into a
        top-level field with an escape (:attr:`escapes`) is escaped by it."""
        return _render(self.request, context, escapes=self.escapes)

    def request_outline(self) -> Any:
        """The request with each ``{expression}`` replaced by a plain stand-in value: what a
        connector checks at load time, before any value is known."""
        return _outline(self.request)


def _render(value: Any, context: Mapping[str, Any], *, escapes: Mapping[str, Escape] | None = None) -> Any:
    if isinstance(value, Template):
        return value.render(context)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            escape = escapes.get(k) if escapes else None
            out[k] = (
                v.render(context, quote=escape) if escape and isinstance(v, Template) else _render(v, context)
            )
        return out
    if isinstance(value, list):
        return [_render(v, context) for v in value]
    return value


def _outline(value: Any) -> Any:
    if isinstance(value, Template):
        return value.outline(STAND_IN)
    if isinstance(value, dict):
        return {k: _outline(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_outline(v) for v in value]
    return value


@dataclass(frozen=True, kw_only=True)
class Pipeline:
    """A pipeline ready to plan requests."""

    config: PipelineConfig
    version: str
    file: str | None
    nodes: Mapping[str, CompiledNode]
    fields: Mapping[str, Expression]
    output_key: Expression
    topo_order: tuple[str, ...]
    key_names: frozenset[str]
    secrets: frozenset[str] = field(default_factory=frozenset, repr=False)
    shapes: dict[frozenset[str], Any] = field(default_factory=dict, repr=False, compare=False)
    """Cache of graph shapes per field selection, filled by :mod:`planner.graph`."""

    escapes_bound: bool = False
    """Whether each node carries its connector's escapes (:meth:`bind_escapes`)."""

    @property
    def name(self) -> str:
        return self.config.pipeline

    def bind_escapes(self, escapes_for: Callable[[str], Mapping[str, Escape]]) -> Pipeline:
        """This pipeline with each node given the escapes of its connector (``escapes_for`` maps a
        connector name to them): what a runtime does before it renders a request."""
        nodes = {
            name: replace(node, escapes=escapes_for(node.connector)) for name, node in self.nodes.items()
        }
        return replace(self, nodes=nodes, escapes_bound=True, shapes={})

    @property
    def keys(self) -> Mapping[str, KeySpec]:
        return self.config.keys


class _Collector:
    def __init__(self, file: str | None, pipeline: str) -> None:
        self.file, self.pipeline = file, pipeline
        self.problems: list[Problem] = []

    def add(self, message: str, *, node: str | None = None, where: str | None = None) -> None:
        self.problems.append(
            Problem(file=self.file, pipeline=self.pipeline, node=node, where=where, message=message)
        )


def _known(names: Any) -> str:
    listed = ", ".join(sorted(names))
    return f"(known: {listed})" if listed else "(none defined)"


def compile_pipeline(
    config: PipelineConfig,
    *,
    version: str,
    file: str | None = None,
    secrets: frozenset[str] = frozenset(),
) -> Pipeline:
    """Compile and cross-check a pipeline; raise ConfigError with every problem found."""
    out = _Collector(file, config.pipeline)
    node_names = set(config.nodes)
    nodes: dict[str, CompiledNode] = {}
    for name, node in config.nodes.items():
        compiled = _compile_node(name, node, config, node_names, out)
        if compiled is not None:
            nodes[name] = compiled
    fields: dict[str, Expression] = {}
    for fname, source in config.fields.items():
        expr = _compile_expr(source, out, where=f"fields.{fname}")
        if expr is not None and _check_refs(expr.refs, node_names, out, where=f"fields.{fname}"):
            fields[fname] = expr
    output_key = _compile_expr(config.output.key, out, where="output.key")
    if output_key is not None:
        _check_refs(output_key.refs, node_names, out, where="output.key")
    order = _topological_order(nodes, out)
    if out.problems:
        raise ConfigError(out.problems)
    if output_key is None:  # unreachable: a failed compile adds a problem
        raise ConfigError([Problem(file=file, pipeline=config.pipeline, message="output.key is invalid")])
    key_names = set(config.keys)
    for n in nodes.values():
        key_names |= n.key_refs
    for expr in (*fields.values(), output_key):
        key_names |= expr.key_refs()
    return Pipeline(
        config=config,
        version=version,
        file=file,
        nodes=nodes,
        fields=fields,
        output_key=output_key,
        topo_order=order,
        key_names=frozenset(key_names),
        secrets=secrets,
    )


def _compile_expr(source: str, out: _Collector, *, where: str, node: str | None = None) -> Expression | None:
    try:
        return Expression.compile(source)
    except ExpressionError as exc:
        out.add(str(exc), node=node, where=where)
        return None


def _check_refs(
    refs: frozenset[str],
    node_names: set[str],
    out: _Collector,
    *,
    where: str,
    node: str | None = None,
) -> bool:
    ok = True
    for ref in sorted(refs - {KEYS}):
        if ref not in node_names:
            out.add(f"refers to unknown node '{ref}' {_known(node_names)}", node=node, where=where)
            ok = False
    return ok


def _compile_node(
    name: str, node: Node, config: PipelineConfig, node_names: set[str], out: _Collector
) -> CompiledNode | None:
    before = len(out.problems)
    source = config.sources.get(node.source)
    if source is None:
        out.add(f"unknown source '{node.source}' {_known(config.sources)}", node=name, where="source")
    request = _compile_request(node.request, out, node=name, where="request")
    refs: set[str] = set()
    key_refs: set[str] = set()
    for where, template in iter_templates(request, "request"):
        _check_refs(template.refs, node_names, out, where=where, node=name)
        refs |= template.refs
        key_refs |= template.key_refs()
    when = None
    if node.when is not None:
        when = _compile_expr(node.when, out, where="when", node=name)
        if when is not None:
            _check_refs(when.refs, node_names, out, where="when", node=name)
            refs |= when.refs
            key_refs |= when.key_refs()
    for dep in node.depends_on:
        if dep not in node_names:
            out.add(
                f"depends_on names unknown node '{dep}' {_known(node_names)}",
                node=name,
                where="depends_on",
            )
    deps = (refs - {KEYS}) | set(node.depends_on)
    if name in deps:
        out.add(f"node '{name}' depends on itself", node=name)
    if len(out.problems) > before or source is None:
        return None
    return CompiledNode(
        name=name,
        config=node,
        source=source,
        request=request,
        when=when,
        deps=frozenset(deps & node_names),
        key_refs=frozenset(key_refs),
        timeout_ms=node.timeout_ms if node.timeout_ms is not None else config.defaults.timeout_ms,
        retries=node.retries if node.retries is not None else config.defaults.retries,
        policy=resolve_policy(node=node.adaptive, pipeline=config.defaults.adaptive, cache=node.cache),
    )


def _compile_request(value: Any, out: _Collector, *, node: str, where: str) -> Any:
    """Compile every string of a request into a Template, reporting each bad one at its location."""
    if isinstance(value, str):
        try:
            return Template.compile(value)
        except ExpressionError as exc:
            out.add(str(exc), node=node, where=where)
            return value
    if isinstance(value, Mapping):
        return {str(k): _compile_request(v, out, node=node, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_compile_request(v, out, node=node, where=f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _topological_order(nodes: Mapping[str, CompiledNode], out: _Collector) -> tuple[str, ...]:
    """Depth-first order (stable by name); on a cycle, report it as ``a -> b -> a``.

    Nodes that failed to compile are absent; cycles among the others are still reported.
    """
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    reported: set[frozenset[str]] = set()

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        path.append(name)
        for dep in sorted(nodes[name].deps & nodes.keys()):  # a node with problems is left out
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep]
                members = frozenset(cycle)
                if members not in reported:
                    reported.add(members)
                    # Print in the direction data flows: dependency first.
                    shown = " -> ".join(reversed(cycle))
                    out.add(f"dependency cycle: {shown}", node=cycle[-1])
            elif dep not in state:
                visit(dep, path)
        path.pop()
        state[name] = 2
        order.append(name)

    for name in sorted(nodes):
        if name not in state:
            visit(name, [])
    return tuple(order)
