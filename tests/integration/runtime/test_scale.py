"""Several worker processes share the load: every request answered, exactly once."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

import pytest

from tests.support.clients import produce_requests

if TYPE_CHECKING:  # fixture types; pytest loads conftest.py itself
    from tests.integration.runtime.conftest import Runtime

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REQUESTS = 200


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def test_two_workers_serve_200_concurrent_requests_exactly_once(runtime: Runtime) -> None:
    # A burst queues calls at the demo upstreams (one Python process) for far longer than the
    # pipeline's 300 ms attempt timeout; the subject here is the runtime, not upstream overload.
    runtime.write_pipeline(defaults={"timeout_ms": 10_000})
    await runtime.start(workers=2)

    started = time.monotonic()
    ids = await produce_requests(
        runtime.settings, "customer360", {"customer_id": "C{i:05d}"}, count=REQUESTS, deadline_ms=30_000
    )
    received = await runtime.wait_for_profiles(ids, timeout_s=60)
    elapsed = time.monotonic() - started

    assert len(set(ids)) == REQUESTS
    assert runtime.profiles.duplicates(ids) == {}
    statuses = {r.value["status"] for r in received.values()}
    assert statuses == {"complete"}, [r.value["errors"] for r in received.values() if r.value["errors"]][:3]
    assert {r.value["keys"]["customer_id"] for r in received.values()} == {
        f"C{i:05d}" for i in range(REQUESTS)
    }
    latencies = [r.value["timing"]["latency_ms"] for r in received.values()]
    print(
        f"\n{REQUESTS} requests, 2 workers: {REQUESTS / elapsed:.0f} profiles/s ({elapsed:.2f} s), "
        f"latency p50 {statistics.median(latencies):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms, "
        f"max {max(latencies):.0f} ms"
    )
    assert all(w.alive for w in runtime.workers), runtime.logs()
