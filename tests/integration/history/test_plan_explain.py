"""`graphfetch plan --explain` reads the workers' shared history from the broker and predicts from it."""

from __future__ import annotations

import asyncio
import re

import pytest
from typer.testing import CliRunner

from streams.cli.main import app
from streams.engine.history import History
from streams.kafka.factory import make_producer
from streams.runtime.statstopic import StatsOptions, StatsSync
from streams.settings import Settings

pytestmark = pytest.mark.integration

P50 = {"customer": 20.0, "credit": 50.0, "risk": 40.0, "orders": 30.0, "tickets": 10.0, "loyalty": 5.0}


async def publish(settings: Settings, history: History) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        options = StatsOptions(topic=settings.stats_topic)
        async with StatsSync(settings, history, producer=producer, worker_id="w1", options=options):
            pass  # stop() publishes the snapshot
    finally:
        await producer.stop()


def test_explain_shows_each_nodes_history_decisions_and_the_predicted_critical_path(
    kafka_bootstrap: str, unique_name: str
) -> None:
    settings = Settings(bootstrap=kafka_bootstrap, stats_topic=f"{unique_name}.stats")
    worker = History()
    for node, latency in P50.items():
        for _ in range(50):
            worker.observe(pipeline="customer360", node=node, source="s", latency_ms=latency, ok=True)
    asyncio.run(publish(settings, worker))

    result = CliRunner().invoke(
        app,
        ["plan", "customer360", "--explain", "--bootstrap", kafka_bootstrap],
        env={"GRAPHFETCH_STATS_TOPIC": settings.stats_topic},
    )

    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"credit \(warehouse/sql\): p50 (49|50|51)\.\d ms", out), out
    assert "no history" not in out
    assert "hedge after" in out  # idempotent GET/SQL fetches with enough history
    path = re.search(r"critical path: customer -> credit -> risk: predicted (\d+\.\d) ms at p50", out)
    assert path is not None, out
    assert float(path.group(1)) == pytest.approx(110, rel=0.03)


def test_explain_without_a_broker_says_so_and_falls_back_to_configured_timeouts() -> None:
    result = CliRunner().invoke(app, ["plan", "customer360", "--explain", "--bootstrap", "127.0.0.1:1"])
    assert result.exit_code == 0, result.output
    assert "no history: cannot read" in result.output
    assert "customer (crm/http): no history yet (0 of 20 samples)" in result.output
