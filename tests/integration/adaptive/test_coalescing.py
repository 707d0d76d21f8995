"""Coalescing: identical fetches in flight at the same time share one upstream call.

The upstream holds each call 200 ms, so concurrent requests overlap for real;
the upstream's own counters say how many calls it received.
"""

from __future__ import annotations

import asyncio

import pytest

from planner import Pipeline, Profile
from streams.engine.inprocess import InProcessEngine

from .conftest import Demo, notes, one_node, run

pytestmark = pytest.mark.integration
REQUESTS = 10
SHARED = "shared an identical in-flight fetch"


async def _concurrently(engine: InProcessEngine, pipeline: Pipeline, keys: list[int]) -> list[Profile]:
    return list(
        await asyncio.gather(*(run(engine, pipeline, key=k, tag=f"c{i}") for i, k in enumerate(keys)))
    )


def _shared(profiles: list[Profile]) -> int:
    return sum(any(SHARED in n for n in notes(p)) for p in profiles)


async def test_concurrent_requests_for_one_key_share_one_upstream_call(
    engine: InProcessEngine, demo: Demo
) -> None:
    demo.set_faults("crm", latency_ms=200)
    pipeline = one_node(demo.upstreams)

    profiles = await _concurrently(engine, pipeline, [7] * REQUESTS)

    calls = demo.calls()
    print(f"\n{REQUESTS} concurrent requests for one key: {calls} upstream call(s)")
    assert all(p.status == "complete" and p.data["name"] == profiles[0].data["name"] for p in profiles)
    assert calls < REQUESTS / 2
    assert _shared(profiles) == REQUESTS - calls


async def test_different_keys_are_not_shared(engine: InProcessEngine, demo: Demo) -> None:
    demo.set_faults("crm", latency_ms=200)
    pipeline = one_node(demo.upstreams)

    profiles = await _concurrently(engine, pipeline, list(range(REQUESTS)))

    assert demo.calls() == REQUESTS
    assert _shared(profiles) == 0


async def test_node_that_opts_out_makes_a_call_per_request(engine: InProcessEngine, demo: Demo) -> None:
    demo.set_faults("crm", latency_ms=200)
    pipeline = one_node(demo.upstreams, node_adaptive={"coalesce": False})

    profiles = await _concurrently(engine, pipeline, [7] * REQUESTS)

    assert demo.calls() == REQUESTS
    assert _shared(profiles) == 0
