"""Text renderings of a request graph for ``graphfetch plan``: text, Mermaid and Graphviz dot."""

from __future__ import annotations

from typing import Literal

from planner import GraphShape, Pipeline

PlanFormat = Literal["text", "mermaid", "dot"]


def _label(pipeline: Pipeline, node: str) -> str:
    compiled = pipeline.nodes[node]
    extras = [f"{compiled.config.source}/{compiled.connector}"]
    if compiled.optional:
        extras.append("optional")
    if compiled.when is not None:
        extras.append(f"when {compiled.when.source}")
    return f"{node} ({', '.join(extras)})"


def render_text(pipeline: Pipeline, shape: GraphShape) -> str:
    path, _ = shape.critical_path()
    lines = [
        f"pipeline {pipeline.name}  version {pipeline.version}",
        f"fields: {', '.join(shape.fields)}",
        f"nodes: {len(shape.nodes)} in {len(shape.levels)} level(s)",
    ]
    for i, level in enumerate(shape.levels):
        lines.append(f"level {i}:")
        for node in level:
            deps = ", ".join(sorted(shape.deps[node])) or "-"
            lines.append(f"  {_label(pipeline, node)}  <- {deps}")
    lines.append(f"critical path: {' -> '.join(path)} ({len(path)} hop(s))")
    return "\n".join(lines)


def render_mermaid(pipeline: Pipeline, shape: GraphShape) -> str:
    path, _ = shape.critical_path()
    lines = ["flowchart LR"]
    for node in shape.nodes:
        lines.append(f'  {node}["{_label(pipeline, node)}"]')
    for node in shape.nodes:
        lines.extend(f"  {dep} --> {node}" for dep in sorted(shape.deps[node]))
    if path:
        lines.append("  classDef critical stroke-width:3px")
        lines.append(f"  class {','.join(path)} critical")
    return "\n".join(lines)


def render_dot(pipeline: Pipeline, shape: GraphShape) -> str:
    path, _ = shape.critical_path()
    on_path = set(path)
    lines = [f'digraph "{pipeline.name}" {{', "  rankdir=LR;"]
    for i, level in enumerate(shape.levels):
        names = " ".join(f'"{n}"' for n in level)
        lines.append(f"  {{ rank=same; {names} }}  // level {i}")
    for node in shape.nodes:
        bold = ", penwidth=3" if node in on_path else ""
        lines.append(f'  "{node}" [label="{_label(pipeline, node)}"{bold}];')
    for node in shape.nodes:
        lines.extend(f'  "{dep}" -> "{node}";' for dep in sorted(shape.deps[node]))
    lines.append("}")
    return "\n".join(lines)


RENDERERS = {"text": render_text, "mermaid": render_mermaid, "dot": render_dot}
