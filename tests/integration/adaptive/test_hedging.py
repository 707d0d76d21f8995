"""Hedging: a second attempt for the calls that take longer than usual, within a budget.

The upstream answers in 20 ms, but one call in ten takes ten times longer. The
hedged node sends a second attempt after its observed p85; a node with
``adaptive: {hedge: false}`` never does. The upstream's counters show what the
hedges cost. Asserted: hedges fire for the slow calls and never without hedging, a
hedge answers before its slow first attempt, and the budget bounds the extra calls.
How many requests still take a tail call's time, and how much the p95/p99 shrink,
are printed: they are benchmark figures (``graphfetch bench``, table "Hedging"), and
a rescued call's time is the machine's as much as the upstream's.
"""

from __future__ import annotations

import pytest

from devkit.bench.stats import percentile
from planner import Pipeline, Profile
from streams.engine.inprocess import InProcessEngine

from .conftest import MIN_SAMPLES, Demo, notes, one_node, run, until_learned

pytestmark = pytest.mark.integration
LATENCY_MS, TAIL_RATE, TAIL_FACTOR = 20.0, 0.1, 10.0
TAIL_MS = LATENCY_MS * TAIL_FACTOR
MEASURED = 60
BUDGET = 0.2
HEDGED = {"hedge_quantile": 0.85, "hedge_budget": BUDGET}
"""p95 would sit inside a 10 % tail: hedge after p85, and let the budget cover the whole tail."""


async def _measure(engine: InProcessEngine, pipeline: Pipeline, demo: Demo) -> tuple[list[Profile], int]:
    for i in range(MIN_SAMPLES + 5):
        await run(engine, pipeline, key=i, tag="warm")
    await until_learned(engine, pipeline)
    demo.reset_calls()
    profiles = [await run(engine, pipeline, key=100 + i) for i in range(MEASURED)]
    return profiles, demo.calls()


def _hedged(profile: Profile) -> bool:
    return any(n.startswith("hedged after ") for n in notes(profile))


def _p95(profiles: list[Profile]) -> float:
    return percentile([p.timing.latency_ms for p in profiles], 0.95)


def _tail_length(profiles: list[Profile]) -> int:
    """Requests that took at least a tail call's time: every tail call without hedging (its upstream
    sleeps that long), only the tail calls that were not rescued with it."""
    return sum(p.timing.latency_ms >= TAIL_MS for p in profiles)


async def test_slow_calls_are_hedged_within_the_budget_and_the_hedge_answers_first(
    engine: InProcessEngine, demo: Demo
) -> None:
    demo.set_faults("crm", latency_ms=LATENCY_MS, tail_rate=TAIL_RATE, tail_factor=TAIL_FACTOR)
    plain, plain_calls = await _measure(
        engine, one_node(demo.upstreams, name="hedge-off", node_adaptive={"hedge": False}), demo
    )
    hedging, calls = await _measure(
        engine, one_node(demo.upstreams, name="hedge-on", node_adaptive=HEDGED), demo
    )

    hedged = [p for p in hedging if _hedged(p)]
    extra = calls - MEASURED
    print(
        f"\np95 {_p95(plain):.0f} ms without hedging, {_p95(hedging):.0f} ms with; "
        f"tail-length requests {_tail_length(plain)} without, {_tail_length(hedging)} with; "
        f"{len(hedged)}/{MEASURED} hedged, {extra} extra calls; e.g. {notes(hedged[0]) if hedged else '-'}"
    )
    assert all(p.status == "complete" for p in plain + hedging)
    assert plain_calls == MEASURED
    assert not any(_hedged(p) for p in plain)
    assert hedged, "the slow calls were hedged"
    assert len(hedged) <= MEASURED * 0.4, "the fast calls, most of them, were not"
    # The rescue: a slow first attempt abandoned for its hedge's answer (a hedge goes out after
    # p85, a tail answer takes 200 ms, a normal one 20).
    won = [p for p in hedged if any(n.endswith("the hedge answered first") for n in notes(p))]
    assert won, f"no hedge answered before its first attempt: {[notes(p) for p in hedged]}"
    # Without hedging every tail call is waited out: the upstream sleeps it, so a slower machine
    # only adds to it. How many calls take that long with hedging is the printed figure above.
    assert _tail_length(plain) > 0, "the upstream's tail did not show: nothing to measure"
    assert 1 <= extra <= len(hedged)
    assert extra <= BUDGET * (MEASURED + MIN_SAMPLES + 5) + 2
