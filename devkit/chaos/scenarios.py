"""The faults graphfetch is run through, one per scenario, each undone when its time is up.

A scenario injects one fault into a serving deployment and clears it after
``fault_s`` seconds (the runner clears it even when the run is interrupted,
so a broker is never left frozen). Its ``crash`` flag says whether the
at-least-once guarantee (docs/guarantees.md) allows duplicates: a SIGKILL (or a broker
frozen past the session timeout, which rebalances the groups like a crash) can
leave a profile published without its ``completed`` marker, so requests in
flight may be answered twice; no other fault may duplicate anything. Under
exactly-once nothing may be duplicated, crash or not
(:func:`~devkit.chaos.guarantees.allowed_duplicates`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devkit.chaos.layouts import PAIR, SPLIT, Layout

if TYPE_CHECKING:
    from devkit.chaos.deployment import Deployment
    from devkit.demo.control_client import DemoControl

_HANG_MS = 5_000.0
"""Past the customer360 node timeout (300 ms): a hung call times out and is retried."""


@dataclass(frozen=True, kw_only=True)
class FaultTarget:
    """What a fault acts on."""

    deployment: Deployment
    upstreams: DemoControl


Action = Callable[[FaultTarget], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    fault: str
    """What is done, in a few words."""
    fault_s: float
    """How long the fault lasts by default."""
    inject: Action
    clear: Action
    layout: Layout = PAIR
    worker_env: Mapping[str, str] = field(default_factory=dict)
    crash: bool = False
    """A SIGKILL, or a freeze past the session timeout: at least once, requests in flight may get a
    second profile (docs/guarantees.md); exactly once, they may not."""


def _knobs(service: str, **knobs: float | bool) -> Action:
    async def act(target: FaultTarget) -> None:
        await target.upstreams.set(service, **knobs)

    return act


async def _healthy(target: FaultTarget) -> None:
    await target.upstreams.reset()


def _kill(*workers: str) -> Action:
    async def act(target: FaultTarget) -> None:
        await target.deployment.kill(workers or tuple(target.deployment.layout.workers))

    return act


def _restart(*workers: str) -> Action:
    async def act(target: FaultTarget) -> None:
        for worker in workers or tuple(target.deployment.layout.workers):
            target.deployment.start_worker(worker)

    return act


async def _pause_broker(target: FaultTarget) -> None:
    target.deployment.pause_broker()


async def _resume_broker(target: FaultTarget) -> None:
    target.deployment.resume_broker()


def _kill_role(role: str) -> Scenario:
    return Scenario(
        name=f"kill-{role}",
        fault=f"SIGKILL the {role} process, restart it after the fault",
        fault_s=10.0,
        inject=_kill(role),
        clear=_restart(role),
        layout=SPLIT,
        crash=True,
    )


SLOW_CONSUMER_ENV: Mapping[str, str] = {
    "GRAPHFETCH_MAX_IN_FLIGHT_TASKS": "8",
    "GRAPHFETCH_MAX_QUEUED_TASKS": "16",
    "GRAPHFETCH_MAX_IN_FLIGHT_REQUESTS": "200",
}
"""Small back-pressure bounds, so the connectors (8 fetches at once each) cannot keep up at 200 ms a call."""

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="errors",
            fault="10% of orders calls answer 503",
            fault_s=30.0,
            inject=_knobs("orders", error_rate=0.10),
            clear=_healthy,
        ),
        Scenario(
            name="hangs",
            fault=f"5% of orders calls hang {_HANG_MS / 1000:g} s (timeout 300 ms)",
            fault_s=30.0,
            inject=_knobs("orders", hang_rate=0.05, hang_ms=_HANG_MS),
            clear=_healthy,
        ),
        Scenario(
            name="tail",
            fault="every service: 5% of calls 25x slower",
            fault_s=30.0,
            inject=_knobs("default", tail_rate=0.05, tail_factor=25.0),
            clear=_healthy,
        ),
        Scenario(
            name="source-down",
            fault="support (optional tickets) answers 503 to everything",
            fault_s=30.0,
            inject=_knobs("support", down=True),
            clear=_healthy,
        ),
        _kill_role("planner"),
        _kill_role("connector"),
        _kill_role("aggregator"),
        Scenario(
            name="kill-worker",
            fault="SIGKILL worker-1 of the two, restart it after the fault",
            fault_s=10.0,
            inject=_kill("worker-1"),
            clear=_restart("worker-1"),
            crash=True,
        ),
        Scenario(
            name="restart-worker",
            fault="SIGKILL worker-1 and restart it at once, a static member (as a supervisor restarts a pod)",
            fault_s=0.0,
            inject=_kill("worker-1"),
            clear=_restart("worker-1"),
            crash=True,
        ),
        Scenario(
            name="restart-worker-dynamic",
            fault="the same, with GRAPHFETCH_STATIC_MEMBERSHIP=false: the restart rebalances every group",
            fault_s=0.0,
            inject=_kill("worker-1"),
            clear=_restart("worker-1"),
            worker_env={"GRAPHFETCH_STATIC_MEMBERSHIP": "false"},
            crash=True,
        ),
        Scenario(
            name="kill-all",
            fault="SIGKILL both workers, restart them after the fault",
            fault_s=10.0,
            inject=_kill(),
            clear=_restart(),
            crash=True,
        ),
        Scenario(
            name="broker-pause",
            fault="SIGSTOP the broker, SIGCONT after the fault",
            fault_s=10.0,
            inject=_pause_broker,
            clear=_resume_broker,
            crash=True,  # a pause past the session timeout rebalances the groups like a crash
        ),
        Scenario(
            name="slow-consumers",
            fault="every service 200 ms a call; connectors fetch 8 at once",
            fault_s=30.0,
            inject=_knobs("default", latency_ms=200.0),
            clear=_healthy,
            worker_env=SLOW_CONSUMER_ENV,
        ),
    )
}
