"""``graphfetch chaos`` stopped from outside leaves nothing running.

A SIGTERM (a CI job cancelled, ``timeout``, a supervisor) cancels the run: it
stops its workers, demo upstreams and broker, and exits 130. A SIGKILL cannot be
handled: the kernel kills its children with it (``PR_SET_PDEATHSIG``, Linux).
Each case runs the real command on Tansu (it starts in about a second) and
looks at its process tree with psutil.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from devkit.deployment.environment import graphfetch_command
from tests.support.waiting import until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's"),
]

_WORKERS = 2
"""The ``kill-worker`` scenario's layout: two worker processes."""


def _start_chaos(workdir: Path) -> tuple[subprocess.Popen[bytes], psutil.Process]:
    command = [*graphfetch_command(), "chaos", "-s", "kill-worker", "--broker", "tansu"]
    command += ["--no-progress", "--workdir", str(workdir)]
    with (workdir.parent / "chaos.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    return process, psutil.Process(process.pid)


def _workers(chaos: psutil.Process) -> list[psutil.Process]:
    try:
        children = chaos.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [c for c in children if _is_worker(c)]


def _is_worker(process: psutil.Process) -> bool:
    try:
        return "worker" in process.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


async def _running(chaos: psutil.Process) -> list[psutil.Process]:
    """Every child of a chaos run once both of its workers are up (broker, upstreams, workers)."""
    await until(lambda: len(_workers(chaos)) >= _WORKERS, timeout_s=120, what="the chaos run's workers")
    return chaos.children(recursive=True)


def _alive(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for p in processes:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            continue
    return alive


@pytest.mark.timeout(300)
async def test_sigterm_stops_the_run_and_everything_it_started(tmp_path: Path) -> None:
    process, chaos = _start_chaos(tmp_path / "run")
    try:
        children = await _running(chaos)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=120)
    finally:
        process.kill()
    log = (tmp_path / "chaos.log").read_text(errors="replace")
    assert code == 130, log
    assert "interrupted; its deployments are stopped" in log
    assert _alive(children) == []


@pytest.mark.timeout(300)
async def test_sigkill_of_the_run_takes_its_children_with_it(tmp_path: Path) -> None:
    process, chaos = _start_chaos(tmp_path / "run")
    try:
        children = await _running(chaos)
        process.kill()
        process.wait(timeout=30)
        await until(lambda: _alive(children) == [], timeout_s=30, what="no child of the killed run alive")
    finally:
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                continue
