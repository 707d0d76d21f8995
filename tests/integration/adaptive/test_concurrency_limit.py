"""The adaptive concurrency limit against a demo upstream of limited capacity.

``crm`` serves 8 calls at once in 50 ms; beyond that every call slows in proportion (the
demo's ``capacity`` knob, the way a saturated server behaves), so 64 at once take 400 ms,
past the node's 300 ms timeout. 64 clients send requests back to back, more than the
source can take:

- at a fixed limit of 64 the calls time out and the breaker opens on graphfetch's own
  overload (the failure this limit exists for);
- with the adaptive limit (ceiling 64) the limit settles near the capacity, the upstream
  answers in time and the breaker stays closed;
- a burst of requests with a short deadline is then answered for the ones that cannot get
  a slot in time without calling the upstream: shed, the profile partial, the error saying
  why. (How soon a shed request is answered is a speed: on a loaded machine its profile
  can go out past the deadline it was shed for, once the loop gets to it.)

Assertions are about behaviour (bands, states, the order of two instants), never speeds.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from connectors import BreakerState, ResilientSource
from planner import Pipeline, Profile
from streams.engine.inprocess import InProcessEngine

from .conftest import Demo, one_node, run

pytestmark = pytest.mark.integration

CAPACITY = 8
SERVICE_MS = 50.0
CEILING = 64
TIMEOUT_MS = 300.0
CLIENTS = 64
CUSTOMERS = 5_000


async def overloaded(demo: Demo, engine: InProcessEngine, pipeline: Pipeline) -> ResilientSource:
    demo.set_faults("crm", latency_ms=SERVICE_MS, capacity=CAPACITY)
    return await engine.sources.get("crm", pipeline.nodes["customer"].source)


async def back_to_back(
    engine: InProcessEngine, pipeline: Pipeline, source: ResilientSource, *, requests: int
) -> tuple[list[Profile], list[int]]:
    """``CLIENTS`` clients, each sending its next request when the last is answered, until
    ``requests`` are answered (distinct customers: no two share a call). Returns the profiles
    and the source's limit after each."""
    keys = iter(range(requests))
    profiles: list[Profile] = []
    limits: list[int] = []

    async def client() -> None:
        for key in keys:
            profiles.append(await run(engine, pipeline, key=key % CUSTOMERS, tag=pipeline.name))
            limits.append(source.limit)

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return profiles, limits


def kinds(profiles: list[Profile]) -> Counter[str]:
    return Counter(p.errors["customer"].kind if "customer" in p.errors else p.status for p in profiles)


async def test_at_a_fixed_limit_the_source_overloaded_by_graphfetch_opens_its_breaker(
    engine: InProcessEngine, demo: Demo
) -> None:
    pipeline = one_node(
        demo.upstreams,
        name="fixed-limit",
        timeout_ms=TIMEOUT_MS,
        limits={"max_concurrency": CEILING, "adaptive": False},
    )
    source = await overloaded(demo, engine, pipeline)
    profiles, _ = await back_to_back(engine, pipeline, source, requests=400)
    seen = kinds(profiles)
    print(f"\nfixed limit {CEILING}: {dict(seen)}")
    assert seen["circuit_open"] > 0, "the upstream it overloaded timed out until the breaker opened"


async def test_the_adaptive_limit_settles_near_capacity_and_keeps_the_breaker_closed_then_sheds_a_burst(
    engine: InProcessEngine, demo: Demo
) -> None:
    pipeline = one_node(
        demo.upstreams, name="adaptive-limit", timeout_ms=TIMEOUT_MS, limits={"max_concurrency": CEILING}
    )
    source = await overloaded(demo, engine, pipeline)
    demo.reset_calls()
    profiles, limits = await back_to_back(engine, pipeline, source, requests=1_200)
    seen = kinds(profiles)
    settled = limits[-300:]
    assert source.admission is not None
    print(
        f"\nadaptive limit: {dict(seen)}; limit over the last 300 requests {min(settled)}..{max(settled)}, "
        f"highest {max(limits)} (capacity {CAPACITY}, ceiling {CEILING}); no-load "
        f"{source.admission.limit.no_load_ms} ms, now {source.admission.limit.expected_ms} ms"
    )
    assert min(settled) >= CAPACITY // 2
    assert max(settled) <= 3 * CAPACITY
    assert seen["circuit_open"] == 0
    assert source.breaker.state is BreakerState.CLOSED
    late = [i for i, p in enumerate(profiles) if p.status != "complete"]
    print(f"not complete: at {late[:20]} of {len(profiles)}")
    assert seen["complete"] >= 0.9 * len(profiles), "the upstream answered in time"

    # A burst of requests that must be answered within 300 ms: those that cannot get a slot in time
    # are shed (kind `shed`, no upstream call, the profile partial).
    deadline_ms = 300.0
    burst = await asyncio.gather(
        *(run(engine, pipeline, key=2_000 + i, deadline_ms=deadline_ms, tag="burst") for i in range(300))
    )
    shed = [p for p in burst if "customer" in p.errors and p.errors["customer"].kind == "shed"]
    print(f"burst of 300 with a {deadline_ms:g} ms deadline: {dict(kinds(burst))}")
    assert shed, "more requests than the limit can serve before the deadline"
    for profile in shed:
        error = profile.errors["customer"]
        assert error.attempts == 0
        assert not error.retriable
        assert profile.status == "partial", "out of time, as at the deadline: not a failure of the source"
        assert error.message.startswith("source 'crm': shed after waiting ")
    assert source.breaker.state is BreakerState.CLOSED
    assert source.admission.shed >= len(shed)
