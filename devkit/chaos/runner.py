"""Run scenarios: a fresh deployment each, a steady stream, one fault, then count what the clients saw.

Per scenario: start a deployment and the request stream; ``baseline_s`` of
normal traffic; the fault for ``fault_s``; ``settle_s`` more of traffic once
it is cleared; stop sending and wait (at most ``drain_timeout_s``) until every
acknowledged request has a profile; then a short quiet period, so late
duplicates are counted too. Worker memory is sampled throughout.

:func:`run_chaos` runs each scenario ``repeat`` times, a fresh deployment each
time, under one processing guarantee (:mod:`devkit.chaos.guarantees`).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from devkit.bench.workloads import UPSTREAM_LATENCY_MS
from devkit.chaos.deployment import PIPELINE, Deployment
from devkit.chaos.figures import (
    ScenarioFigures,
    ScenarioSummary,
    Timeline,
    UpstreamCalls,
    scenario_figures,
    summarise,
)
from devkit.chaos.guarantees import EXACTLY_ONCE_DEFAULTS, Guarantee, broker_for
from devkit.chaos.scenarios import SCENARIOS, FaultTarget, Scenario
from devkit.chaos.stream import RequestStream
from devkit.demo.control_client import DemoControl
from devkit.deployment.upstreams import DemoUpstreams
from streams.cli.shared_options import BrokerKind

_RSS_EVERY_S = 0.5
_WARM_ROUND_S = 1.0
_WARM_MIN_S = 3.0
_WARM_MAX_S = 30.0
_WARM_LATENCY_MS = {Guarantee.AT_LEAST_ONCE: 500.0, Guarantee.EXACTLY_ONCE: 3_000.0}
"""A warm-up round is steady when every request in it took less; exactly once, a request's hops
each wait for a transaction commit (200 ms interval)."""
_QUIET_S = 2.0
"""After the last first profile: time for a late duplicate to show."""
_SHOWN_IDS = 5
"""Lost or duplicated request ids named in a run's notes."""

Phase = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class Durations:
    """How long each phase of a scenario lasts; ``scale`` multiplies all but the drain timeout."""

    baseline_s: float = 10.0
    fault_s: float | None = None
    """None: each scenario's own (see :data:`SCENARIOS`)."""
    settle_s: float = 20.0
    drain_timeout_s: float = 90.0
    scale: float = 1.0

    def fault_for(self, scenario: Scenario) -> float:
        return (self.fault_s if self.fault_s is not None else scenario.fault_s) * self.scale


class ChaosReport(BaseModel):
    """A chaos run: its parameters, one row of figures per run of each scenario, a summary per scenario."""

    model_config = ConfigDict(frozen=True)

    rate: float
    scale: float
    guarantee: Guarantee = Guarantee.AT_LEAST_ONCE
    broker: BrokerKind | None = None
    repeat: int = 1
    pipeline_defaults: dict[str, int] = Field(
        default_factory=dict, description="What customer360's defaults were changed to for the run."
    )
    worker_env: dict[str, str] = Field(
        default_factory=dict, description="Settings given to every worker of the run (--worker-env)."
    )
    scenarios: list[ScenarioFigures] = Field(description="Every run, in the order run.")
    summaries: list[ScenarioSummary] = Field(default_factory=list)


def _ignore(_: str) -> None:
    return None


async def _sample_rss(deployment: Deployment, samples: list[tuple[float, int]]) -> None:
    while True:
        samples.append((time.monotonic(), deployment.worker_rss_bytes()))
        await asyncio.sleep(_RSS_EVERY_S)  # a sampling period, not a synchronisation


@contextlib.asynccontextmanager
async def _background(coro: asyncio.Future[None] | asyncio.Task[None]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        coro.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await coro


async def run_scenario(
    scenario: Scenario,
    *,
    upstreams: DemoControl,
    upstream_env: dict[str, str],
    workdir: Path,
    rate: float,
    durations: Durations,
    worker_env: Mapping[str, str] | None = None,
    broker: BrokerKind = BrokerKind.TANSU,
    guarantee: Guarantee = Guarantee.AT_LEAST_ONCE,
    run: int = 1,
    phase: Phase = _ignore,
) -> ScenarioFigures:
    """Run one scenario on a deployment of its own and return its figures (``run``: which repetition)."""
    name = f"chaos-{scenario.name}-{uuid.uuid4().hex[:6]}"
    label = scenario.name if run == 1 else f"{scenario.name} #{run}"
    fault_s = durations.fault_for(scenario)
    await upstreams.reset()
    phase(f"{label}: starting broker and workers")
    deployment = Deployment(
        name=name,
        layout=scenario.layout,
        upstream_env=upstream_env,
        workdir=workdir / name,
        worker_env={**(worker_env or {}), **scenario.worker_env},
        broker=broker,
        guarantee=guarantee,
    )
    async with deployment:
        phase(f"{label}: warm-up")
        notes = await _warm_up(deployment, rate)
        stream = RequestStream(settings=deployment.settings, pipeline=PIPELINE, rate=rate, prefix=name)
        stop = asyncio.Event()
        await upstreams.reset_calls()
        rss: list[tuple[float, int]] = []
        sending = asyncio.create_task(stream.run(stop), name="chaos-stream")
        async with _background(asyncio.create_task(_sample_rss(deployment, rss))):
            try:
                phase(f"{label}: baseline")
                await _watch(sending, durations.baseline_s * durations.scale)
                phase(f"{label}: {scenario.fault}")
                calls_before = await upstreams.calls()
                fault_start = time.monotonic()
                try:
                    await scenario.inject(FaultTarget(deployment=deployment, upstreams=upstreams))
                    await _watch(sending, fault_s)
                finally:
                    await scenario.clear(FaultTarget(deployment=deployment, upstreams=upstreams))
                    fault_end = time.monotonic()
                phase(f"{label}: after the fault")
                await _watch(sending, durations.settle_s * durations.scale)
            finally:
                stop.set()
                await sending
            phase(f"{label}: waiting for every profile")
            notes += await _drain(deployment, stream, durations.drain_timeout_s)
            calls = UpstreamCalls(before_fault=calls_before, total=await upstreams.calls())
        return scenario_figures(
            scenario=scenario.name,
            run=run,
            crash=scenario.crash,
            guarantee=guarantee,
            fault=scenario.fault,
            fault_s=fault_s,
            rate=rate,
            sent=stream.sent,
            acked=stream.acked,
            send_failures=stream.send_failures,
            seen=deployment.ledger.seen,
            timeline=Timeline(fault_start=fault_start, fault_end=fault_end),
            rss_samples=rss,
            upstream_calls=calls,
            notes=notes,
        )


async def _warm_up(deployment: Deployment, rate: float) -> list[str]:
    """Traffic in one-second rounds until a round is all complete and fast (and at least
    ``_WARM_MIN_S`` passed): the consumer groups have settled (a worker that joins late
    rebalances them), connections are open and code paths warm, so the baseline is steady."""
    ledger = deployment.ledger
    latency_ms = _WARM_LATENCY_MS[deployment.guarantee]
    started = time.monotonic()
    round_number = 0
    while True:
        round_number += 1
        stream = RequestStream(
            settings=deployment.settings,
            pipeline=PIPELINE,
            rate=rate,
            prefix=f"{deployment.name}-warm{round_number}",
        )
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(_WARM_ROUND_S, stop.set)
        await stream.run(stop)
        answered = await ledger.wait_for(stream.acked, timeout_s=5.0)
        steady = answered and all(
            ledger.seen[s.request_id][0].status == "complete"
            and (ledger.seen[s.request_id][0].arrived - s.at) * 1000.0 < latency_ms
            for s in stream.sent
            if s.request_id in stream.acked
        )
        elapsed = time.monotonic() - started
        if steady and elapsed >= _WARM_MIN_S:
            return []
        if elapsed > _WARM_MAX_S:
            return [f"not steady after {_WARM_MAX_S:g} s of warm-up; measured anyway"]


async def _watch(sending: asyncio.Task[None], seconds: float) -> None:
    """Let ``seconds`` pass while the stream runs; raise at once if the stream fails."""
    done, _ = await asyncio.wait({sending}, timeout=seconds)
    if done:
        sending.result()
        raise RuntimeError("the request stream stopped before it was told to")


async def _drain(deployment: Deployment, stream: RequestStream, timeout_s: float) -> list[str]:
    ledger = deployment.ledger
    notes: list[str] = []
    started = time.monotonic()
    if not await ledger.wait_for(stream.acked, timeout_s=timeout_s):
        notes.append(f"profiles still missing {timeout_s:g} s after the stream stopped")
    else:
        notes.append(f"every profile out {time.monotonic() - started:.1f} s after the stream stopped")
    await asyncio.sleep(_QUIET_S)  # a window for late duplicates, not a synchronisation
    notes += _unexpected(deployment, stream)
    workers = deployment.workers
    notes += [f"{w} exited unasked:\n{workers.by_name[w].log_tail()}" for w in workers.dead()]
    return notes


def _unexpected(deployment: Deployment, stream: RequestStream) -> list[str]:
    """The first lost and duplicated requests by id, each profile with its ``topic[partition]@offset``
    and status, so a surprise can be looked up in the output topic and the worker logs."""
    ledger = deployment.ledger
    ids = [s.request_id for s in stream.sent if s.request_id in stream.acked]
    lost = [i for i in ids if i not in ledger.by_request_id]
    duplicated = [i for i in ids if len(ledger.by_request_id.get(i, ())) > 1]
    notes = []
    if lost:
        shown = ", ".join(lost[:_SHOWN_IDS])
        notes.append(f"lost {len(lost)}: {shown}{' ...' if len(lost) > _SHOWN_IDS else ''}")
    for request_id in duplicated[:_SHOWN_IDS]:
        profiles = ", ".join(
            f"{ledger.topic}[{r.partition}]@{r.offset} {r.value.get('status')}"
            for r in ledger.by_request_id[request_id]
        )
        notes.append(f"duplicated {request_id}: {profiles}")
    if len(duplicated) > _SHOWN_IDS:
        notes.append(f"duplicated: {len(duplicated) - _SHOWN_IDS} more")
    return notes


def chosen(names: Sequence[str] | None) -> list[Scenario]:
    """The scenarios named (all when ``names`` is empty), in the order given; ValueError for an unknown one."""
    if not names:
        return list(SCENARIOS.values())
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}: choose from {', '.join(SCENARIOS)}")
    return [SCENARIOS[n] for n in names]


async def run_chaos(
    names: Sequence[str] | None = None,
    *,
    rate: float = 30.0,
    durations: Durations | None = None,
    workdir: Path | None = None,
    broker: BrokerKind = BrokerKind.TANSU,
    guarantee: Guarantee = Guarantee.AT_LEAST_ONCE,
    repeat: int = 1,
    worker_env: Mapping[str, str] | None = None,
    phase: Phase = _ignore,
    done: Callable[[ScenarioFigures], None] | None = None,
) -> ChaosReport:
    """Run the named scenarios (all by default) one after the other, each ``repeat`` times on a fresh
    deployment, sharing one set of demo upstreams. ``worker_env`` goes to every worker (a
    scenario's own settings win).

    Raises :class:`~devkit.chaos.guarantees.UnsupportedGuarantee` before starting anything when
    ``guarantee`` cannot run on ``broker`` (exactly once on Tansu).
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, not {repeat}")
    scenarios = chosen(names)
    broker = broker_for(guarantee, broker)
    durations = durations or Durations()
    async with contextlib.AsyncExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="graphfetch-chaos-")))
        workdir.mkdir(parents=True, exist_ok=True)
        phase("starting the demo upstreams")
        upstreams = DemoUpstreams.child(workdir, latency_ms=UPSTREAM_LATENCY_MS)
        demo = await stack.enter_async_context(upstreams)
        control = DemoControl(demo.url)
        rows: list[ScenarioFigures] = []
        for scenario in scenarios:
            for run in range(1, repeat + 1):
                figures = await run_scenario(
                    scenario,
                    upstreams=control,
                    upstream_env=demo.env(),
                    workdir=workdir,
                    rate=rate,
                    durations=durations,
                    worker_env=worker_env,
                    broker=broker,
                    guarantee=guarantee,
                    run=run,
                    phase=phase,
                )
                rows.append(figures)
                if done is not None:
                    done(figures)
    return ChaosReport(
        rate=rate,
        scale=durations.scale,
        guarantee=guarantee,
        broker=broker,
        repeat=repeat,
        worker_env=dict(worker_env or {}),
        pipeline_defaults=dict(EXACTLY_ONCE_DEFAULTS) if guarantee is Guarantee.EXACTLY_ONCE else {},
        scenarios=rows,
        summaries=summarise(rows),
    )
