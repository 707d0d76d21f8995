"""CPU and memory of processes (workers, a broker, this one), as bench and chaos runs read them.

Readings of a process that is gone count as zero: a worker killed by a fault or
stopped between two readings must not fail a measurement.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence

import psutil


def cpu_seconds(pids: Iterable[int]) -> float:
    """User plus system CPU time of the processes so far (0 for any that is gone)."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy (any process) so far."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def own_cpu_seconds() -> float:
    """CPU seconds of this process and every process it started (running or reaped) so far."""
    me = psutil.Process()
    times = me.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    return total + cpu_seconds(child.pid for child in me.children(recursive=True))


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (0 if it is gone)."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


async def busy_cores(pids: Sequence[int], *, window_s: float = 1.0) -> float:
    """Cores the processes use over ``window_s`` (for a worker with no traffic: its consumers polling)."""
    before = cpu_seconds(pids)
    await asyncio.sleep(window_s)  # the measurement window itself
    return (cpu_seconds(pids) - before) / window_s


async def wait_until_idle(
    pids: Sequence[int],
    *,
    baseline_cores: float = 0.0,
    margin_cores: float = 0.05,
    window_s: float = 0.3,
    timeout_s: float = 20.0,
) -> bool:
    """Wait until the processes use no more than ``baseline_cores + margin_cores`` over ``window_s``.

    The condition a memory reading waits for: the processes have handled a
    burst (planned, dispatched, parked) and only wait. False on timeout.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await busy_cores(pids, window_s=window_s) <= baseline_cores + margin_cores:
            return True
    return False
