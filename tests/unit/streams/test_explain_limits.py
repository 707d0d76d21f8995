"""``graphfetch plan --explain`` shows each source's concurrency limit as configured, and each worker's
current limit as it last published it."""

from __future__ import annotations

from pathlib import Path

import yaml

from planner import graph_shape, parse_pipeline
from streams.cli.explain import SharedView, explain_text
from streams.engine.history import History
from streams.engine.source_states import SourceState, WorkerSources

REPO = Path(__file__).resolve().parents[3]


def test_explain_shows_each_sources_configured_limit_adaptive_or_fixed() -> None:
    document = yaml.safe_load((REPO / "configs" / "customer360.yaml").read_text())
    document["sources"]["crm"]["limits"] = {"max_concurrency": 16, "initial_limit": 6, "tolerance": 2}
    document["sources"]["risk"]["limits"] = {"adaptive": False}
    pipeline = parse_pipeline(yaml.safe_dump(document), file="customer360.yaml", env={})
    text = explain_text(pipeline, graph_shape(pipeline), SharedView(History()))
    print(f"\n{text}")
    assert "no worker has published its state of this source yet" in text
    assert (
        "crm (http): adaptive between 1 and 16 in flight, starting at 6 (tolerance 2, backoff ratio 0.9)"
        in text
    )
    assert "warehouse (sql): adaptive between 1 and 5 in flight, starting at 4" in text  # 5: its pool size
    assert "risk (http): fixed at 32 in flight" in text
    assert text.count("crm (http): adaptive") == 1, "one line per source, not per node"


def test_explain_shows_each_workers_current_limit_of_a_source() -> None:
    pipeline = parse_pipeline(
        (REPO / "configs" / "customer360.yaml").read_text(), file="customer360.yaml", env={}
    )
    history = History(clock=lambda: 1_000_000.0)  # a fixed clock: the age printed is exactly 4 s
    crm = SourceState(
        source="crm",
        id="a1",
        connector="http",
        limit=12,
        adaptive=True,
        max_concurrency=32,
        in_flight=3,
        waiting=5,
        shed=2,
        breaker="closed",
    )
    view = SharedView(
        history,
        {
            "worker-2": WorkerSources(worker="worker-2", at_s=history.clock() - 4, sources=[crm]),
            "worker-1": WorkerSources(worker="worker-1", at_s=history.clock(), sources=[]),
        },
    )
    text = explain_text(pipeline, graph_shape(pipeline), view)
    print(f"\n{text}")
    lines = text.splitlines()
    crm_line = next(i for i, line in enumerate(lines) if line.startswith("  crm (http): adaptive"))
    assert lines[crm_line + 1] == (
        "      now on worker-2 (4 s ago): limit 12, 3 in flight, 5 waiting, 2 shed, breaker closed"
    )
