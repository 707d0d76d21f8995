"""Critical-path priority: the predicted latency from a node to the end of its graph."""

from __future__ import annotations

from pathlib import Path

from planner import Pipeline, parse_pipeline
from streams.engine.adaptive.priority import PathPredictor

CONFIGS = Path(__file__).resolve().parents[4] / "configs"


def _customer360() -> Pipeline:
    return parse_pipeline((CONFIGS / "customer360.yaml").read_text(), file="customer360.yaml", env={})


def test_remaining_is_own_p50_plus_the_longest_dependent_chain() -> None:
    pipeline = _customer360()
    p50 = {"customer": 20.0, "orders": 30.0, "credit": 50.0, "risk": 40.0, "tickets": 10.0, "loyalty": 5.0}
    predictor = PathPredictor(lambda _p, node: p50.get(node))
    for name in pipeline.nodes:
        dependents = [d for d, n in pipeline.nodes.items() if name in n.deps]
        expected = p50[name] + max((predictor.remaining_ms(pipeline, d) for d in dependents), default=0.0)
        assert predictor.remaining_ms(pipeline, name) == expected
    roots = [n for n, node in pipeline.nodes.items() if not node.deps]
    assert max(roots, key=lambda n: predictor.remaining_ms(pipeline, n)) == "customer"


def test_without_history_depth_still_orders_the_graph() -> None:
    pipeline = _customer360()
    predictor = PathPredictor(lambda _p, _n: None)
    for name, node in pipeline.nodes.items():
        for dep in node.deps:
            assert predictor.remaining_ms(pipeline, dep) > predictor.remaining_ms(pipeline, name)


def test_figures_are_recomputed_after_refresh() -> None:
    pipeline = _customer360()
    now = [0.0]
    p50 = {"risk": 10.0}
    predictor = PathPredictor(lambda _p, node: p50.get(node), refresh_s=1.0, clock=lambda: now[0])
    first = predictor.remaining_ms(pipeline, "risk")
    p50["risk"] = 100.0
    assert predictor.remaining_ms(pipeline, "risk") == first
    now[0] = 1.5
    assert predictor.remaining_ms(pipeline, "risk") == 100.0
