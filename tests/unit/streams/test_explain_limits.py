"""``graphfetch plan --explain`` shows each source's concurrency limit as configured, and says why."""

from __future__ import annotations

from pathlib import Path

import yaml

from planner import graph_shape, parse_pipeline
from streams.cli.explain import explain_text
from streams.engine.history import History

REPO = Path(__file__).resolve().parents[3]


def test_explain_shows_each_sources_configured_limit_adaptive_or_fixed() -> None:
    document = yaml.safe_load((REPO / "configs" / "customer360.yaml").read_text())
    document["sources"]["crm"]["limits"] = {"max_concurrency": 16, "initial_limit": 6, "tolerance": 2}
    document["sources"]["risk"]["limits"] = {"adaptive": False}
    pipeline = parse_pipeline(yaml.safe_dump(document), file="customer360.yaml", env={})
    text = explain_text(pipeline, graph_shape(pipeline), History())
    print(f"\n{text}")
    assert "the shared history does not carry it" in text
    assert (
        "crm (http): adaptive between 1 and 16 in flight, starting at 6 (tolerance 2, backoff ratio 0.9)"
        in text
    )
    assert "warehouse (sql): adaptive between 1 and 5 in flight, starting at 4" in text  # 5: its pool size
    assert "risk (http): fixed at 32 in flight" in text
    assert text.count("crm (http): adaptive") == 1, "one line per source, not per node"
