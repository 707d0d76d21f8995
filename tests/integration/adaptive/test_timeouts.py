"""Adaptive timeouts (opt-in): learned from the node's own latency once the history has enough of it.

The upstream answers in about 5 ms. Before ``min_samples`` observations the
configured timeout stands; after them it drops to ``timeout_factor`` x p99
(floored at 50 ms), so a hung call fails after the learned timeout, unless the
node opts out with ``adaptive: {timeouts: false}``. The timeout that ended the
hung call is read from its error ("attempt timed out after N ms"), not from a
stopwatch; the elapsed time is printed.

A timeout is learned only when 3 x p99 is below the configured one. The learning
test configures 3 s, so that a loaded machine's slower calls (a p99 of up to 1 s)
still teach one; the opt-out test keeps 600 ms, the time its hung call waits.
"""

from __future__ import annotations

import re
import time

import pytest

from planner import Pipeline
from streams.engine.inprocess import InProcessEngine

from .conftest import MIN_SAMPLES, Demo, notes, one_node, run, until_learned

pytestmark = pytest.mark.integration
CONFIGURED_MS = 600.0
LEARNING_CONFIGURED_MS = 3_000.0
"""Far above 3 x the p99 of a 5 ms upstream, however slow the machine makes those calls."""
TIMEOUTS_ONLY = {"timeouts": True, "hedge": False, "coalesce": False}
"""Hedges and shared calls would blur what a hung call costs: this file is about timeouts alone."""


def _timeout_notes(profile_notes: list[str]) -> list[str]:
    return [n for n in profile_notes if n.startswith("timeout ")]


def _ms(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in {text!r}"
    return float(found.group(1))


async def _hung_call(engine: InProcessEngine, pipeline: Pipeline, demo: Demo) -> tuple[float, float]:
    """A call that hangs for 10 s: the timeout that ended it (from its error), and the elapsed ms."""
    demo.set_faults("crm", hang_rate=1.0, hang_ms=10_000)
    started = time.perf_counter()
    profile = await run(engine, pipeline, key=99, tag="hung")
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    assert profile.status == "failed"
    error = profile.errors["customer"]
    assert error.kind == "timeout", error
    return _ms(r"timed out after (\d+) ms", error.message), elapsed_ms


async def test_timeout_is_learned_after_min_samples_and_fails_a_hung_call_fast(
    engine: InProcessEngine, demo: Demo
) -> None:
    demo.set_faults("crm", latency_ms=5)
    pipeline = one_node(demo.upstreams, timeout_ms=LEARNING_CONFIGURED_MS, adaptive=TIMEOUTS_ONLY)

    before = [notes(await run(engine, pipeline, key=i)) for i in range(MIN_SAMPLES)]
    assert not any(_timeout_notes(n) for n in before), before
    # Counts decay (half-life 5 min): 20 observations are already a little under 20, so two more.
    for i in range(MIN_SAMPLES, MIN_SAMPLES + 2):
        await run(engine, pipeline, key=i)
    await until_learned(engine, pipeline)
    learned = _timeout_notes(notes(await run(engine, pipeline, key=MIN_SAMPLES + 2)))
    assert len(learned) == 1, learned
    assert "from history" in learned[0]
    assert f"configured {LEARNING_CONFIGURED_MS:.0f} ms" in learned[0]

    timeout_ms, elapsed_ms = await _hung_call(engine, pipeline, demo)
    print(f"\n{learned[0]}; a hung call timed out after {timeout_ms:.0f} ms ({elapsed_ms:.0f} ms elapsed)")
    # The learned timeout ended it, not the configured one (memoised estimates may have moved a little).
    assert timeout_ms < LEARNING_CONFIGURED_MS
    assert timeout_ms == pytest.approx(_ms(r"^timeout (\d+) ms from history", learned[0]), rel=0.5)


async def test_node_that_opts_out_keeps_the_configured_timeout(engine: InProcessEngine, demo: Demo) -> None:
    demo.set_faults("crm", latency_ms=5)
    pipeline = one_node(
        demo.upstreams, timeout_ms=CONFIGURED_MS, adaptive=TIMEOUTS_ONLY, node_adaptive={"timeouts": False}
    )

    for i in range(MIN_SAMPLES + 2):
        await run(engine, pipeline, key=i)
    await until_learned(engine, pipeline)
    assert not _timeout_notes(notes(await run(engine, pipeline, key=MIN_SAMPLES + 2)))

    timeout_ms, elapsed_ms = await _hung_call(engine, pipeline, demo)
    print(
        f"\nhung call with the configured timeout: timed out after {timeout_ms:.0f} ms ({elapsed_ms:.0f} ms elapsed)"
    )
    assert timeout_ms == CONFIGURED_MS
