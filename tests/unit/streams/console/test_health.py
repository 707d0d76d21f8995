"""Live health from recent profiles: statuses, rate and per-node decisions read from lineage and errors."""

from __future__ import annotations

from typing import Literal

from planner import Pipeline
from streams.console.health import NONE, cells_of, health_report
from streams.console.profiles import ProfileBook, epoch_ms
from streams.engine.history import History
from streams.engine.source_states import SourceState, WorkerSources

from .conftest import entry, lineage

NOW = "2026-12-05T20:00:00.000Z"


def test_profiles_of_the_last_minute_give_statuses_rate_and_decisions(customer360: Pipeline) -> None:
    book = ProfileBook(max_profiles=100)
    book.add(entry("old", completed_at="2026-12-05T19:50:00.000Z"))
    book.add(
        entry(
            "a",
            lineages={
                "name": lineage("customer", notes=["hedged after 20 ms (p95); the hedge answered first"])
            },
        )
    )
    book.add(
        entry("b", lineages={"name": lineage("customer", notes=["served from cache (memory), age 1.0 s"])})
    )
    book.add(
        entry(
            "c", lineages={"name": lineage("customer", notes=["not hedged after 20 ms (p95): budget spent"])}
        )
    )
    book.add(
        entry(
            "d",
            status="failed",
            errors={
                "customer": {"kind": "timeout", "message": "m", "attempts": 3, "retriable": True},
                "tickets": {"kind": "circuit_open", "message": "m", "attempts": 0, "retriable": True},
            },
        )
    )
    report = health_report(book=book, history=History(), pipelines=[customer360], now_ms=epoch_ms(NOW))
    assert report.profiles_in_window == 4
    assert report.statuses == {"complete": 3, "failed": 1}
    assert report.requests_per_s == 0.4
    nodes = {row.name: row.activity for row in report.nodes}
    assert (nodes["customer"].fetches, nodes["customer"].hedged, nodes["customer"].cache_hits) == (4, 1, 1)
    assert nodes["customer"].timeouts == 1
    assert nodes["tickets"].breaker_refusals == 1
    sources = {row.name: row for row in report.sources}
    assert sources["crm"].activity.fetches >= 4
    assert sources["crm"].max_concurrency == 32


def test_history_figures_appear_per_node_and_source(customer360: Pipeline) -> None:
    history = History(min_samples=1)
    for latency in (10.0, 20.0, 30.0):
        history.observe(pipeline="customer360", node="customer", source="crm", latency_ms=latency, ok=True)
    report = health_report(
        book=ProfileBook(max_profiles=10), history=history, pipelines=[customer360], now_ms=0
    )
    customer = next(row for row in report.nodes if row.name == "customer")
    assert customer.figures.p50 is not None
    assert 15 <= customer.figures.p50 <= 25
    cells = report.as_json()
    assert cells["node-customer360-customer-samples"] == "3"
    assert cells["source-customer360-crm-errors"] == "0.0%"


def _state(*, limit: int, in_flight: int, breaker: Literal["closed", "open", "half_open"]) -> SourceState:
    return SourceState(
        source="crm",
        id="crm-1",
        connector="http",
        limit=limit,
        adaptive=True,
        max_concurrency=32,
        in_flight=in_flight,
        waiting=1,
        shed=2,
        breaker=breaker,
    )


def test_the_workers_published_states_give_each_source_its_breaker_and_limit(customer360: Pipeline) -> None:
    now_s = epoch_ms(NOW) / 1000
    states = {
        "w1": WorkerSources(
            worker="w1", at_s=now_s - 2, sources=[_state(limit=8, in_flight=3, breaker="open")]
        ),
        "w2": WorkerSources(
            worker="w2", at_s=now_s - 2, sources=[_state(limit=32, in_flight=1, breaker="closed")]
        ),
        "gone": WorkerSources(
            worker="gone", at_s=now_s - 3600, sources=[_state(limit=1, in_flight=9, breaker="open")]
        ),
    }
    report = health_report(
        book=ProfileBook(max_profiles=10),
        history=History(),
        pipelines=[customer360],
        now_ms=epoch_ms(NOW),
        states=states,
        states_max_age_s=60,
    )
    crm = cells_of(next(row for row in report.sources if row.name == "crm"))
    assert crm["state"] == "open on 1 of 2"
    assert crm["limit"] == "40 / 64 adaptive"
    assert crm["in-flight"] == "4 + 2 waiting"
    assert crm["shed"] == "4"
    orders = cells_of(next(row for row in report.sources if row.name == "orders"))
    assert orders["state"] == NONE  # no worker published it
