"""A child process of a local deployment (demo upstreams, a worker): spawn, watch, stop for sure.

Each child writes to its own log file (quoted when it fails) and runs in its own
session, so a Ctrl-C in the terminal reaches the parent, which then stops its
children in order instead of them all dying at once. :meth:`Child.stop` asks
politely (SIGTERM), then kills (SIGKILL); :meth:`Child.kill` is a crash. Both are
safe to call twice. The kernel kills a child whose parent died without stopping it.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from devkit.parent_death import die_with_parent

LOG_TAIL_LINES = 30
STOP_TIMEOUT_S = 5.0
_REAP_TIMEOUT_S = 10.0


@dataclass(kw_only=True)
class Child:
    """One running child process and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    spawned_at: float
    """``time.monotonic()`` just before the process was created."""
    stop_timeout_s: float = STOP_TIMEOUT_S
    """How long :meth:`stop` waits after SIGTERM before it kills."""

    @classmethod
    def spawn(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        stop_timeout_s: float = STOP_TIMEOUT_S,
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
                start_new_session=True,  # signals meant for the parent's process group pass it by
                preexec_fn=die_with_parent(),  # a parent SIGKILLed (a test run, chaos) leaves no orphan
            )
        return cls(
            name=name,
            process=process,
            log_path=log_path,
            spawned_at=spawned_at,
            stop_timeout_s=stop_timeout_s,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        state = "running" if self.alive else f"exited with {self.process.returncode}"
        tail = "\n".join(text.splitlines()[-lines:]) or "(no output)"
        return f"--- {self.name} ({state}), log {self.log_path} ---\n{tail}"

    def signal(self, signum: signal.Signals) -> None:
        """Send ``signum`` unless the process is gone already."""
        if self.alive:
            self.process.send_signal(signum)

    async def wait(self, timeout_s: float | None = None) -> int:
        """The exit code, once the process is gone (:class:`subprocess.TimeoutExpired` after ``timeout_s``)."""
        return await asyncio.to_thread(self.process.wait, timeout_s)

    def kill(self) -> None:
        """SIGKILL: no drain, no last commit, like a crashed machine; returns once it is gone."""
        self.signal(signal.SIGKILL)
        self.process.wait(timeout=_REAP_TIMEOUT_S)

    async def stop(self, *, timeout_s: float | None = None) -> int:
        """SIGTERM, then SIGKILL after ``timeout_s`` (default :attr:`stop_timeout_s`); the exit code."""
        self.signal(signal.SIGTERM)
        try:
            return await self.wait(self.stop_timeout_s if timeout_s is None else timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return await self.wait()
