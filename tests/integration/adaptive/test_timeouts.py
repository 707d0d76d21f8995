"""Adaptive timeouts (opt-in): learned from the node's own latency once the history has enough of it.

The upstream answers in about 5 ms, the configured timeout is 600 ms. Before
``min_samples`` observations the configured timeout stands; after them it drops
to ``timeout_factor`` x p99 (floored at 50 ms), so a hung call fails in a fraction
of the configured time, unless the node opts out with ``adaptive: {timeouts: false}``.
"""

from __future__ import annotations

import time

import pytest

from planner import Pipeline
from streams.inprocess import InProcessEngine

from .conftest import MIN_SAMPLES, Demo, notes, one_node, run, until_learned

pytestmark = pytest.mark.integration
CONFIGURED_MS = 600.0
TIMEOUTS_ONLY = {"timeouts": True, "hedge": False, "coalesce": False}
"""Hedges and shared calls would blur what a hung call costs: this file is about timeouts alone."""


def _timeout_notes(profile_notes: list[str]) -> list[str]:
    return [n for n in profile_notes if n.startswith("timeout ")]


async def _hung_call_ms(engine: InProcessEngine, pipeline: Pipeline, demo: Demo) -> tuple[float, str]:
    demo.set_faults("crm", hang_rate=1.0, hang_ms=10_000)
    started = time.perf_counter()
    profile = await run(engine, pipeline, key=99, tag="hung")
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    assert profile.status == "failed"
    return elapsed_ms, profile.errors["customer"].kind


async def test_timeout_is_learned_after_min_samples_and_fails_a_hung_call_fast(
    engine: InProcessEngine, demo: Demo
) -> None:
    demo.set_faults("crm", latency_ms=5)
    pipeline = one_node(demo.upstreams, timeout_ms=CONFIGURED_MS, adaptive=TIMEOUTS_ONLY)

    before = [notes(await run(engine, pipeline, key=i)) for i in range(MIN_SAMPLES)]
    assert not any(_timeout_notes(n) for n in before), before
    # Counts decay (half-life 5 min): 20 observations are already a little under 20, so two more.
    for i in range(MIN_SAMPLES, MIN_SAMPLES + 2):
        await run(engine, pipeline, key=i)
    await until_learned(engine, pipeline)
    learned = _timeout_notes(notes(await run(engine, pipeline, key=MIN_SAMPLES + 2)))
    assert len(learned) == 1, learned
    assert "from history" in learned[0]
    assert f"configured {CONFIGURED_MS:.0f} ms" in learned[0]

    elapsed_ms, kind = await _hung_call_ms(engine, pipeline, demo)
    print(f"\n{learned[0]}; a hung call failed after {elapsed_ms:.0f} ms")
    assert kind == "timeout"
    assert elapsed_ms < CONFIGURED_MS / 3


async def test_node_that_opts_out_keeps_the_configured_timeout(engine: InProcessEngine, demo: Demo) -> None:
    demo.set_faults("crm", latency_ms=5)
    pipeline = one_node(
        demo.upstreams, timeout_ms=CONFIGURED_MS, adaptive=TIMEOUTS_ONLY, node_adaptive={"timeouts": False}
    )

    for i in range(MIN_SAMPLES + 2):
        await run(engine, pipeline, key=i)
    await until_learned(engine, pipeline)
    assert not _timeout_notes(notes(await run(engine, pipeline, key=MIN_SAMPLES + 2)))

    elapsed_ms, kind = await _hung_call_ms(engine, pipeline, demo)
    print(f"\nhung call with the configured timeout: failed after {elapsed_ms:.0f} ms")
    assert kind == "timeout"
    assert elapsed_ms >= CONFIGURED_MS * 0.9
