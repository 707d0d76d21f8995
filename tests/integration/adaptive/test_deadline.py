"""Deadline-aware starts: a node whose typical latency cannot fit in the time left is not started.

With no history, a request whose deadline is shorter than the upstream takes still calls it (and
runs out of time): the upstream hangs for that request, so its deadline can be a whole second, time
enough for the call to reach the upstream on a loaded machine. Once the history knows p50 ~ 100 ms,
a request with a 40 ms deadline fails the node at once with kind ``deadline`` and makes no call
(a slower machine only leaves it less time), while a request with ample time runs as before.
Hedging is off: this file counts the calls that deadlines allow, not those a slow answer adds.
"""

from __future__ import annotations

import asyncio

import pytest

from streams.engine.inprocess import InProcessEngine

from .conftest import MIN_SAMPLES, Demo, one_node, run, until_learned

pytestmark = pytest.mark.integration
LATENCY_MS = 100.0
BLIND_DEADLINE_MS = 1_000.0
"""Shorter than the hung call and the node's 2 s timeout, far longer than reaching the upstream."""
SHORT_DEADLINE_MS = 40.0
ENOUGH_DEADLINE_MS = 5_000.0


async def test_node_predicted_to_miss_the_deadline_is_not_started(
    engine: InProcessEngine, demo: Demo
) -> None:
    pipeline = one_node(demo.upstreams, adaptive={"hedge": False})

    demo.set_faults("crm", hang_rate=1.0, hang_ms=30_000)
    await engine.sources.get("crm", pipeline.nodes["customer"].source)
    demo.reset_calls()
    blind = await run(engine, pipeline, key=1000, deadline_ms=BLIND_DEADLINE_MS, tag="blind")
    assert demo.calls() == 1, "without history the node is started"
    assert blind.errors["customer"].kind == "deadline"
    assert "predicted" not in blind.errors["customer"].message

    demo.set_faults("crm", hang_rate=0.0, latency_ms=LATENCY_MS)
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

    enough = await run(engine, pipeline, key=1002, deadline_ms=ENOUGH_DEADLINE_MS, tag="enough")
    assert enough.status == "complete"
    assert demo.calls() == 1
