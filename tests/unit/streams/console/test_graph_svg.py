"""The graph picture: every node of the shape, the critical path, conditional and optional nodes marked."""

from __future__ import annotations

import re

from planner import Pipeline, graph_shape
from streams.console.graph_svg import graph_svg
from streams.console.health import Figures


def _classes(svg: str) -> dict[str, set[str]]:
    return {m[1]: set(m[0].split()) for m in re.findall(r'<g class="([^"]+)" data-node="([^"]+)"', svg)}


def test_every_node_is_drawn_with_its_marks(customer360: Pipeline) -> None:
    shape = graph_shape(customer360)
    figures = {"customer": Figures(p50=12.0, p95=30.0, p99=40.0, error_rate=0.01, samples=50)}
    svg = str(graph_svg(shape, customer360, figures, ["customer", "credit", "risk"]))
    classes = _classes(svg)
    assert set(classes) == set(shape.nodes)
    assert {n for n, c in classes.items() if "critical" in c} == {"customer", "credit", "risk"}
    assert "conditional" in classes["risk"]
    assert "optional" in classes["tickets"]
    assert "p50 12 · p95 30 ms · err 1.0%" in svg
    assert svg.count('class="edge critical"') == 2


def test_a_field_selection_draws_only_the_nodes_it_needs(customer360: Pipeline) -> None:
    shape = graph_shape(customer360, ["name"])
    svg = str(graph_svg(shape, customer360, {}, ["customer"]))
    assert set(_classes(svg)) == {"customer"}
    assert "no history yet" in svg
