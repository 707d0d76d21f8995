"""Memory per request in flight: resident memory with one number of requests parked, then more.

Requests of ``customer360-hold`` sleep for seconds in their first level, so they
stay in flight while the runtime's processes are read. The figure is the
slope between two counts, which leaves out what the first request of all
allocates once (pools, caches, arenas).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from devkit.bench.measure import Sample, gather_or_cancel, timed
from devkit.bench.results import Memory
from devkit.bench.targets import Target
from devkit.bench.workloads import Workload
from devkit.deployment.usage import busy_cores, rss_bytes, wait_until_idle

_MIB = 1024 * 1024


async def memory_per_request(
    target: Target,
    workload: Workload,
    keys: Sequence[str],
    *,
    runtime: str,
    counts: tuple[int, int],
    hold_ms: float,
    pids: Sequence[int],
    prefix: str,
) -> Memory:
    """Park ``counts[0]`` requests, read RSS, park up to ``counts[1]``, read again, then let all finish."""

    def rss() -> int:
        return sum(rss_bytes(pid) for pid in pids)

    def park(start: int, stop: int) -> list[asyncio.Task[Sample]]:
        return [
            asyncio.ensure_future(
                timed(target, workload, key=keys[i % len(keys)], request_id=f"{prefix}-{i}")
            )
            for i in range(start, stop)
        ]

    baseline = await busy_cores(pids)
    before = rss()
    first_sent = time.monotonic()
    parked = park(0, counts[0])
    settled = await wait_until_idle(pids, baseline_cores=baseline)
    with_first = rss()
    parked += park(counts[0], counts[1])
    settled = await wait_until_idle(pids, baseline_cores=baseline) and settled
    with_second = rss()
    # Readings after the first requests woke up would count fewer requests than parked.
    settled = settled and (time.monotonic() - first_sent) * 1000.0 < hold_ms * 0.8
    await gather_or_cancel(parked)
    slope = (with_second - with_first) / max(1, counts[1] - counts[0])
    return Memory(
        runtime=runtime,
        in_flight=counts,
        rss_mib=(before / _MIB, with_first / _MIB, with_second / _MIB),
        kib_per_request=slope / 1024.0,
        settled=settled,
    )
