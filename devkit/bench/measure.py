"""Closed-loop measurements: one request at a time, runtimes interleaved, or a bounded window in flight."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from devkit.bench.stats import Summary, summarise
from devkit.bench.targets import Target
from devkit.bench.workloads import Workload


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    e2e_ms: float
    """From the bench's call to the answer in its hands (for Kafka: produce -> profile read)."""
    profile_ms: float | None
    status: str


@dataclass(frozen=True, kw_only=True)
class Samples:
    """The samples of one runtime on one workload."""

    items: list[Sample]

    @property
    def e2e(self) -> Summary:
        return summarise([s.e2e_ms for s in self.items])

    @property
    def profile(self) -> Summary | None:
        values = [s.profile_ms for s in self.items if s.profile_ms is not None]
        return summarise(values) if values else None

    @property
    def not_complete(self) -> int:
        return sum(n for status, n in Counter(s.status for s in self.items).items() if status != "complete")


Tick = Callable[[], None]
T = TypeVar("T")


async def timed(target: Target, workload: Workload, *, key: str, request_id: str) -> Sample:
    started = time.perf_counter()
    answer = await target.call(workload, key=key, request_id=request_id)
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    return Sample(e2e_ms=elapsed_ms, profile_ms=answer.profile_ms, status=answer.status)


async def sequential(
    target: Target, workload: Workload, keys: Sequence[str], *, prefix: str, tick: Tick | None = None
) -> Samples:
    """One request at a time: latency without queueing."""
    items = []
    for i, key in enumerate(keys):
        items.append(await timed(target, workload, key=key, request_id=f"{prefix}-{i}"))
        if tick is not None:
            tick()
    return Samples(items=items)


async def interleaved(
    targets: Mapping[str, Target],
    workload: Workload,
    keys: Sequence[str],
    *,
    prefix: str,
    tick: Tick | None = None,
) -> dict[str, Samples]:
    """One request at a time, alternating runtimes request by request (the order flips every round),
    so a drift of the machine during the run touches every runtime alike."""
    items: dict[str, list[Sample]] = {name: [] for name in targets}
    names = list(targets)
    for i, key in enumerate(keys):
        for name in names if i % 2 == 0 else reversed(names):
            request_id = f"{prefix}-{name}-{i}"
            items[name].append(await timed(targets[name], workload, key=key, request_id=request_id))
        if tick is not None:
            tick()
    return {name: Samples(items=samples) for name, samples in items.items()}


async def windowed(
    target: Target, workload: Workload, keys: Sequence[str], *, window: int, prefix: str
) -> tuple[float, Samples]:
    """Every request of ``keys`` with at most ``window`` in flight; returns (seconds taken, samples)."""
    slots = asyncio.Semaphore(window)

    async def one(i: int, key: str) -> Sample:
        async with slots:
            return await timed(target, workload, key=key, request_id=f"{prefix}-{i}")

    started = time.perf_counter()
    items = await gather_or_cancel([one(i, key) for i, key in enumerate(keys)])
    return time.perf_counter() - started, Samples(items=items)


async def gather_or_cancel(jobs: Sequence[Awaitable[T]]) -> list[T]:
    """All results; on the first error the others are cancelled and awaited before it propagates."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
