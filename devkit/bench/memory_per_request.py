"""Memory per request in flight: resident memory with one number of requests parked, then more.

Requests of ``customer360-hold`` sleep for seconds in their first level, so they
stay in flight while the runtime's processes are read. The figure is the
slope between two counts, which leaves out what the first request of all
allocates once (pools, caches, arenas).

RSS only sees memory a process asks the system for: requests served from memory
it had already freed add nothing to it (a second measurement in one process read
2.3 KiB per request where its first read 23.4; after the graph sweeps' bursts, 0).
So :mod:`devkit.bench.streaming` measures memory first, a growth under
:data:`RESOLUTION_BYTES` is reported as not resolved, and, since a reading
taken before the process has taken its requests in counts them for nothing
(waiting for idle cannot tell that apart when idle polling is high), every
reading is checked against the answers (:func:`_taken_in`) before the figure
is called settled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from devkit.bench.measure import Sample, gather_or_cancel, timed
from devkit.bench.results import Memory
from devkit.bench.targets import Target
from devkit.bench.workloads import Workload
from devkit.deployment.usage import busy_cores, rss_bytes, wait_until_idle

_MIB = 1024 * 1024
RESOLUTION_BYTES = 256 * 1024
"""Least RSS growth between the two readings taken as a figure: one arena of CPython's allocator
(256 KiB), so that arenas reused from freed memory cannot pass for a small figure."""


async def memory_per_request(
    target: Target,
    workload: Workload,
    keys: Sequence[str],
    *,
    runtime: str,
    counts: tuple[int, int],
    pids: Sequence[int],
    prefix: str,
) -> Memory:
    """Park ``counts[0]`` requests, read RSS, park up to ``counts[1]``, read again, then let all finish.

    Each reading waits for the processes to go idle, and is checked afterwards against
    the answers: a reading is *settled* when every request parked before it had been
    taken in (sent + the two hops, e2e less the profile's latency) and none had finished.
    """

    def rss() -> int:
        return sum(rss_bytes(pid) for pid in pids)

    def park(start: int, stop: int) -> list[_Parked]:
        return [
            _Parked(
                sent_at=time.perf_counter(),
                task=asyncio.ensure_future(
                    timed(target, workload, key=keys[i % len(keys)], request_id=f"{prefix}-{i}")
                ),
            )
            for i in range(start, stop)
        ]

    baseline = await busy_cores(pids)
    before = rss()
    first = park(0, counts[0])
    idle = await wait_until_idle(pids, baseline_cores=baseline)
    with_first, first_read_at = rss(), time.perf_counter()
    second = park(counts[0], counts[1])
    idle = await wait_until_idle(pids, baseline_cores=baseline) and idle
    with_second, second_read_at = rss(), time.perf_counter()
    samples = await gather_or_cancel([p.task for p in first + second])
    answered = [(p, s) for p, s in zip(first + second, samples, strict=True)]
    settled = (
        idle
        and all(_taken_in(p, s, by=first_read_at) for p, s in answered[: counts[0]])
        and all(_taken_in(p, s, by=second_read_at) for p, s in answered)
        and all(p.sent_at + s.e2e_ms / 1000.0 > second_read_at for p, s in answered)
    )
    grown = with_second - with_first
    return Memory(
        runtime=runtime,
        in_flight=counts,
        rss_mib=(before / _MIB, with_first / _MIB, with_second / _MIB),
        kib_per_request=grown / 1024.0 / max(1, counts[1] - counts[0]) if grown >= RESOLUTION_BYTES else None,
        resolution_kib=RESOLUTION_BYTES / 1024.0,
        settled=settled,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Parked:
    sent_at: float
    task: asyncio.Future[Sample]


def _taken_in(parked: _Parked, sample: Sample, *, by: float) -> bool:
    """Whether the runtime had taken the request in by ``by`` (False when its profile gives no latency).

    e2e less the profile's own latency is the way in and the way out; the way out counted
    too, the estimate of the intake is late, never early.
    """
    if sample.profile_ms is None:
        return False
    return parked.sent_at + (sample.e2e_ms - sample.profile_ms) / 1000.0 <= by
