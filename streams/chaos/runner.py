"""Run scenarios: a fresh deployment each, a steady stream, one fault, then count what the clients saw.

Per scenario: start a deployment and the request stream; ``baseline_s`` of
normal traffic; the fault for ``fault_s``; ``settle_s`` more of traffic once
it is cleared; stop sending and wait (at most ``drain_timeout_s``) until every
acknowledged request has a profile; then a short quiet period, so late
duplicates are counted too. Worker memory is sampled throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from streams.bench.upstreams import DemoUpstreams
from streams.brokers import BrokerKind
from streams.chaos.deployment import PIPELINE, Deployment
from streams.chaos.figures import ScenarioFigures, Timeline, scenario_figures
from streams.chaos.scenarios import SCENARIOS, FaultTarget, Scenario
from streams.chaos.stream import RequestStream
from streams.chaos.upstream import UpstreamControl

_RSS_EVERY_S = 0.5
_WARM_ROUND_S = 1.0
_WARM_MIN_S = 3.0
_WARM_MAX_S = 30.0
_WARM_LATENCY_MS = 500.0
_QUIET_S = 2.0
"""After the last first profile: time for a late duplicate to show."""

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
    """A chaos run: its parameters and one row of figures per scenario."""

    model_config = ConfigDict(frozen=True)

    rate: float
    scale: float
    scenarios: list[ScenarioFigures]


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
    upstreams: UpstreamControl,
    upstream_env: dict[str, str],
    workdir: Path,
    rate: float,
    durations: Durations,
    broker: BrokerKind = BrokerKind.TANSU,
    phase: Phase = _ignore,
) -> ScenarioFigures:
    """Run one scenario on a deployment of its own and return its figures."""
    name = f"chaos-{scenario.name}-{uuid.uuid4().hex[:6]}"
    fault_s = durations.fault_for(scenario)
    await upstreams.reset()
    phase(f"{scenario.name}: starting broker and workers")
    deployment = Deployment(
        name=name,
        layout=scenario.layout,
        upstream_env=upstream_env,
        workdir=workdir / name,
        worker_env=scenario.worker_env,
        broker=broker,
    )
    async with deployment:
        phase(f"{scenario.name}: warm-up")
        notes = await _warm_up(deployment, rate)
        stream = RequestStream(settings=deployment.settings, pipeline=PIPELINE, rate=rate, prefix=name)
        stop = asyncio.Event()
        rss: list[tuple[float, int]] = []
        sending = asyncio.create_task(stream.run(stop), name="chaos-stream")
        async with _background(asyncio.create_task(_sample_rss(deployment, rss))):
            try:
                phase(f"{scenario.name}: baseline")
                await _watch(sending, durations.baseline_s * durations.scale)
                phase(f"{scenario.name}: {scenario.fault}")
                fault_start = time.monotonic()
                try:
                    await scenario.inject(FaultTarget(deployment=deployment, upstreams=upstreams))
                    await _watch(sending, fault_s)
                finally:
                    await scenario.clear(FaultTarget(deployment=deployment, upstreams=upstreams))
                    fault_end = time.monotonic()
                phase(f"{scenario.name}: after the fault")
                await _watch(sending, durations.settle_s * durations.scale)
            finally:
                stop.set()
                await sending
            phase(f"{scenario.name}: waiting for every profile")
            notes += await _drain(deployment, stream, durations.drain_timeout_s)
        return scenario_figures(
            scenario=scenario.name,
            fault=scenario.fault,
            fault_s=fault_s,
            rate=rate,
            sent=stream.sent,
            acked=stream.acked,
            send_failures=stream.send_failures,
            seen=deployment.ledger.seen,
            timeline=Timeline(fault_start=fault_start, fault_end=fault_end),
            rss_samples=rss,
            notes=notes,
        )


async def _warm_up(deployment: Deployment, rate: float) -> list[str]:
    """Traffic in one-second rounds until a round is all complete and fast (and at least
    ``_WARM_MIN_S`` passed): the consumer groups have settled (a worker that joins late
    rebalances them), connections are open and code paths warm, so the baseline is steady."""
    ledger = deployment.ledger
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
            and (ledger.seen[s.request_id][0].arrived - s.at) * 1000.0 < _WARM_LATENCY_MS
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
    notes += [f"{w} exited unasked:\n{deployment.workers[w].log_tail()}" for w in deployment.dead_workers()]
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
    phase: Phase = _ignore,
    done: Callable[[ScenarioFigures], None] | None = None,
) -> ChaosReport:
    """Run the named scenarios (all by default) one after the other, sharing one set of demo upstreams."""
    scenarios = chosen(names)
    durations = durations or Durations()
    async with contextlib.AsyncExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="graphfetch-chaos-")))
        phase("starting the demo upstreams")
        demo = await stack.enter_async_context(DemoUpstreams(workdir=workdir))
        control = UpstreamControl(demo.url)
        rows: list[ScenarioFigures] = []
        for scenario in scenarios:
            figures = await run_scenario(
                scenario,
                upstreams=control,
                upstream_env=demo.env(),
                workdir=workdir,
                rate=rate,
                durations=durations,
                broker=broker,
                phase=phase,
            )
            rows.append(figures)
            if done is not None:
                done(figures)
    return ChaosReport(rate=rate, scale=durations.scale, scenarios=rows)
