"""Child processes of a bench run (demo upstreams, workers): spawn, measure, stop for sure.

Each child writes to its own log file (quoted when it fails) and runs in its own
session, so a Ctrl-C in the terminal reaches the bench, which then stops its
children in order instead of them all dying at once. :meth:`Child.stop` asks
politely (SIGTERM), then kills (SIGKILL); it is safe to call twice.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

_LOG_TAIL_LINES = 30


@dataclass(kw_only=True)
class Child:
    """One running child process and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    spawned_at: float
    """``time.monotonic()`` just before the process was created."""

    @classmethod
    def spawn(
        cls, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log_path: Path
    ) -> Child:
        spawned_at = time.monotonic()
        with log_path.open("wb") as log:
            # A list argv (no shell) of our own interpreter or console script.
            process = subprocess.Popen(  # noqa: S603
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name=name, process=process, log_path=log_path, spawned_at=spawned_at)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        state = "running" if self.alive else f"exited with {self.process.returncode}"
        tail = "\n".join(text.splitlines()[-lines:]) or "(no output)"
        return f"--- {self.name} ({state}), log {self.log_path} ---\n{tail}"

    async def stop(self, *, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns once the process is gone."""
        if not self.alive:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)


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
