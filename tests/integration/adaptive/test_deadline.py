"""Deadline-aware starts: a node whose typical latency cannot fit in the time left is not started.

The upstream answers in 100 ms. With no history a request with a 40 ms deadline
still calls it (and runs out of time); once the history knows p50 ~ 100 ms, the
same request fails the node at once with kind ``deadline`` and makes no call,
while a request with enough time left runs as before.
"""

from __future__ import annotations

import asyncio

import pytest

from streams.engine.inprocess import InProcessEngine

from .conftest import MIN_SAMPLES, Demo, one_node, run, until_learned

pytestmark = pytest.mark.integration
LATENCY_MS = 100.0
SHORT_DEADLINE_MS = 40.0


async def test_node_predicted_to_miss_the_deadline_is_not_started(
    engine: InProcessEngine, demo: Demo
) -> None:
    demo.set_faults("crm", latency_ms=LATENCY_MS)
    pipeline = one_node(demo.upstreams)

    # Start the source first: creating its HTTP client (TLS context and all) can take most of 40 ms.
    await engine.sources.get("crm", pipeline.nodes["customer"].source)
    demo.reset_calls()
    blind = await run(engine, pipeline, key=1000, deadline_ms=SHORT_DEADLINE_MS, tag="blind")
    assert demo.calls() == 1, "without history the node is started"
    assert blind.errors["customer"].kind == "deadline"
    assert "predicted" not in blind.errors["customer"].message

    # Distinct keys, so no two warm-up fetches share a call.
    await asyncio.gather(*(run(engine, pipeline, key=i) for i in range(MIN_SAMPLES + 2)))
    await until_learned(engine, pipeline)

    demo.reset_calls()
    refused = await run(engine, pipeline, key=1001, deadline_ms=SHORT_DEADLINE_MS, tag="refused")
    error = refused.errors["customer"]
    print(f"\n{error.message}")
    assert error.kind == "deadline"
    assert error.message.startswith("not started: predicted ")
    assert "p50 of customer" in error.message
    assert error.attempts == 0
    assert demo.calls() == 0, "a refused node makes no upstream call"

    enough = await run(engine, pipeline, key=1002, deadline_ms=10 * LATENCY_MS, tag="enough")
    assert enough.status == "complete"
    assert demo.calls() == 1
