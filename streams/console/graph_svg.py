"""A request's graph drawn as SVG on the server: one column per dependency level, edges left to right.

Pure: it takes the graph's shape, the pipeline (for sources, ``when:`` and
``optional``), each node's history figures and the critical path, and returns
markup. Nodes on the critical path are outlined in the accent colour;
conditional nodes carry a dashed border, optional ones a lighter fill.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from planner import GraphShape, Pipeline
from streams.console.health import NONE, Figures

BOX_W, BOX_H = 220, 74
GAP_X, GAP_Y = 70, 22
PAD = 16


def _node_box(
    name: str, pipeline: Pipeline, figures: Figures | None, *, x: int, y: int, critical: bool
) -> str:
    node = pipeline.nodes[name]
    classes = ["node"]
    if critical:
        classes.append("critical")
    if node.when is not None:
        classes.append("conditional")
    if node.optional:
        classes.append("optional")
    marks = [m for m, on in (("when", node.when is not None), ("optional", node.optional)) if on]
    subtitle = f"{node.config.source}/{node.connector}" + (f" · {', '.join(marks)}" if marks else "")
    if figures is None or figures.p50 is None:
        stats = "no history yet"
    else:
        errors = NONE if figures.error_rate is None else f"{figures.error_rate:.1%}"
        stats = f"p50 {figures.p50:.0f} · p95 {figures.p95 or 0:.0f} ms · err {errors}"
    title = f"{name}: {subtitle}" + (f"; when {node.config.when}" if node.config.when else "")
    return (
        f'<g class="{" ".join(classes)}" data-node="{escape(name)}" transform="translate({x},{y})">'
        f"<title>{escape(title)}</title>"
        f'<rect width="{BOX_W}" height="{BOX_H}" rx="8"/>'
        f'<text class="name" x="12" y="22">{escape(name)}</text>'
        f'<text class="sub" x="12" y="42">{escape(subtitle)}</text>'
        f'<text class="stats" x="12" y="62">{escape(stats)}</text>'
        "</g>"
    )


def graph_svg(
    shape: GraphShape,
    pipeline: Pipeline,
    figures: Mapping[str, Figures],
    critical_path: Sequence[str],
) -> Markup:
    """The graph of ``shape`` as an inline ``<svg>`` element."""
    position: dict[str, tuple[int, int]] = {}
    tallest = max((len(level) for level in shape.levels), default=0)
    for column, level in enumerate(shape.levels):
        offset = (tallest - len(level)) * (BOX_H + GAP_Y) // 2
        for row, name in enumerate(level):
            position[name] = (PAD + column * (BOX_W + GAP_X), PAD + offset + row * (BOX_H + GAP_Y))
    width = PAD * 2 + len(shape.levels) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + tallest * (BOX_H + GAP_Y) - GAP_Y
    on_path = set(critical_path)
    path_edges = set(itertools.pairwise(critical_path))
    edges = []
    for name in shape.nodes:
        x2, y2 = position[name]
        for dep in sorted(shape.deps[name]):
            x1, y1 = position[dep]
            sx, sy, ex, ey = x1 + BOX_W, y1 + BOX_H // 2, x2, y2 + BOX_H // 2
            mid = (sx + ex) // 2
            css = "edge critical" if (dep, name) in path_edges else "edge"
            edges.append(
                f'<path class="{css}" d="M{sx},{sy} C{mid},{sy} {mid},{ey} {ex - 6},{ey}" marker-end="url(#arrow)"/>'
            )
    boxes = [
        _node_box(n, pipeline, figures.get(n), x=position[n][0], y=position[n][1], critical=n in on_path)
        for n in shape.nodes
    ]
    levels = [
        f'<text class="level" x="{PAD + i * (BOX_W + GAP_X)}" y="{height - 2}">level {i}</text>'
        for i in range(len(shape.levels))
    ]
    return Markup(  # noqa: S704 - every name and text above is escaped
        f'<svg class="graph" role="img" aria-label="graph of {escape(pipeline.name)}" '
        f'width="{width}" height="{height + 14}" viewBox="0 0 {width} {height + 14}" '
        'xmlns="http://www.w3.org/2000/svg">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="9" markerHeight="9" '
        'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
        + "".join(edges)
        + "".join(boxes)
        + "".join(levels)
        + "</svg>"
    )
