"""Open-loop load: requests sent on a fixed schedule whatever the answers, stepped up.

Latency is measured from each request's *scheduled* send time, so a sender that
falls behind shows up as latency instead of hiding it (no coordinated
omission). A step is judged twice:

* *holds*: every request got a complete profile, the runtime kept up (answers
  at 90 % of the offered rate or more) and the p99 stayed within the threshold
  the capacity target sets (:data:`devkit.bench.checks.CAPACITY_P99_MS`);
* *sustained*: the same, with the pipeline's deadline as the p99 bound: the
  runtime keeps up without queueing past what a request may take.

Stepping goes on while steps are sustained, so the curve shows both the
latency knee and the throughput ceiling.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from devkit.bench.stats import Summary, summarise
from devkit.bench.targets import Answer, Target
from devkit.bench.workloads import Workload

WARMUP_S = 1.0
DRAIN_SLACK_S = 2.0
"""How long past the ceiling answers are awaited after the last send; later ones count as lost."""
CpuClock = Callable[[], float]
"""CPU seconds used so far by some processes."""
RUNTIME = "runtime"
"""The key of :attr:`LoadStep.cpu_cores` for the processes of the runtime under test."""


class LoadStep(BaseModel):
    model_config = ConfigDict(frozen=True)

    offered_rps: float
    sent: int
    answered: int
    not_complete: int = Field(description="Answered partial or failed.")
    lost: int = Field(description="No answer within the drain time.")
    achieved_rps: float = Field(description="Answers per second, first scheduled send to last answer.")
    e2e: Summary = Field(description="Latency from the scheduled send time, ms.")
    profile: Summary | None = Field(description="The profiles' own latency, ms.")
    cpu_cores: dict[str, float] = Field(
        description="CPU used during the step, in cores: the runtime's processes, and each other group measured."
    )
    cpu_ms_per_request: dict[str, float] = Field(
        description="CPU per answered request, ms, by the same groups; a group not measured is absent."
    )
    holds: bool = Field(description="Kept up, all complete, p99 within the threshold.")
    sustained: bool = Field(description="Kept up, all complete, p99 within the ceiling.")


class LoadResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    workload: str
    threshold_ms: float = Field(description="p99 bound of a step that holds: the capacity target's.")
    ceiling_ms: float = Field(description="p99 bound of a sustained step: the pipeline's deadline.")
    tasks_per_request: int
    steps: list[LoadStep]

    @property
    def max_rate_holding(self) -> float | None:
        held = [s.offered_rps for s in self.steps if s.holds]
        return max(held) if held else None

    def step_at(self, rate: float | None) -> LoadStep | None:
        """The step offered ``rate`` requests/s, if one was."""
        return next((s for s in self.steps if s.offered_rps == rate), None)

    @property
    def max_rate_sustained(self) -> float | None:
        kept = [s.offered_rps for s in self.steps if s.sustained]
        return max(kept) if kept else None


async def run_step(
    target: Target,
    workload: Workload,
    keys: Sequence[str],
    *,
    rate: float,
    duration_s: float,
    threshold_ms: float,
    ceiling_ms: float,
    prefix: str,
    drain_s: float,
    cpu: Mapping[str, CpuClock],
) -> LoadStep:
    count = max(1, round(rate * duration_s))
    finished: list[tuple[float, Answer, float]] = []

    async def one(i: int, scheduled: float) -> None:
        answer = await target.call(workload, key=keys[i % len(keys)], request_id=f"{prefix}-{i}")
        done = time.perf_counter()
        finished.append(((done - scheduled) * 1000.0, answer, done))

    cpu_before = {name: clock() for name, clock in cpu.items()}
    start = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    try:
        for i in range(count):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # the schedule itself: open loop
            tasks.append(asyncio.ensure_future(one(i, scheduled)))
        _, pending = await asyncio.wait(tasks, timeout=drain_s)
    finally:
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [
        o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, asyncio.CancelledError)
    ]
    if errors:
        raise errors[0]
    last = max((done for _, _, done in finished), default=time.perf_counter())
    wall = max(last - start, 1e-9)
    cpu_used = {name: clock() - cpu_before[name] for name, clock in cpu.items()}
    e2e = summarise([ms for ms, _, _ in finished])
    profiles = [a.profile_ms for _, a, _ in finished if a.profile_ms is not None]
    not_complete = sum(1 for _, a, _ in finished if a.status != "complete")
    lost = len(pending)
    achieved = len(finished) / wall
    kept_up = lost == 0 and not_complete == 0 and achieved >= 0.9 * rate and not math.isnan(e2e.p99)
    return LoadStep(
        offered_rps=rate,
        sent=count,
        answered=len(finished),
        not_complete=not_complete,
        lost=lost,
        achieved_rps=achieved,
        e2e=e2e,
        profile=summarise(profiles) if profiles else None,
        cpu_cores={name: used / wall for name, used in cpu_used.items()},
        cpu_ms_per_request={name: used * 1000.0 / len(finished) for name, used in cpu_used.items()}
        if finished
        else {},
        holds=kept_up and e2e.p99 <= threshold_ms,
        sustained=kept_up and e2e.p99 <= ceiling_ms,
    )


async def step_up(
    target: Target,
    workload: Workload,
    keys: Sequence[str],
    *,
    rates: Sequence[float],
    duration_s: float,
    threshold_ms: float,
    ceiling_ms: float,
    tasks_per_request: int,
    prefix: str,
    cpu: Mapping[str, CpuClock],
    on_step: Callable[[LoadStep], None] | None = None,
) -> LoadResult:
    """Each rate for ``duration_s``, lowest first, stopping after the first step not sustained.

    A short unrecorded run at the lowest rate comes first, so the first step does not pay for
    whatever the runtime sets up on the way from one request at a time to a steady stream.
    """
    await run_step(
        target,
        workload,
        keys,
        rate=rates[0],
        duration_s=min(WARMUP_S, duration_s),
        threshold_ms=threshold_ms,
        ceiling_ms=ceiling_ms,
        prefix=f"{prefix}-warm-up",
        drain_s=ceiling_ms / 1000.0 + DRAIN_SLACK_S,
        cpu={},
    )
    steps: list[LoadStep] = []
    for rate in rates:
        step = await run_step(
            target,
            workload,
            keys,
            rate=rate,
            duration_s=duration_s,
            threshold_ms=threshold_ms,
            ceiling_ms=ceiling_ms,
            prefix=f"{prefix}-{rate:g}",
            drain_s=ceiling_ms / 1000.0 + DRAIN_SLACK_S,
            cpu=cpu,
        )
        steps.append(step)
        if on_step is not None:
            on_step(step)
        if not step.sustained:
            break
    return LoadResult(
        workload=workload.name,
        threshold_ms=threshold_ms,
        ceiling_ms=ceiling_ms,
        tasks_per_request=tasks_per_request,
        steps=steps,
    )
