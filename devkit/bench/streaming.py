"""The Kafka runtime's phases on one broker: start-up, warm-up, single requests, graph sweeps, memory, load.

:func:`run_kafka` measures one runtime (a number of workers) on one broker; the suite
calls it per broker and per number of workers, and names the runtimes after the
broker (``kafka-1``, ``tansu-2``). In a full run each group of measurements runs on a deployment of its own: a
fresh local broker (unless a cluster was given) and fresh workers, warmed up
(``--quick`` uses one deployment per runtime, to save the start-ups). Tansu's CPU
per fetch grows with the number of record batches a partition holds (measured:
about 0.35 ms per message on a new topic, 1.2 ms after 12,000 single-record
batches over 8 partitions), so on one long-lived broker every figure would
depend on what ran before it. The hop probe, the sweeps and the memory figure
are taken with one worker only (they describe a worker, not the scaling).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from devkit.bench.checks import BROKER_CPU, CAPACITY_P99_MS, CLIENT_CPU
from devkit.bench.context import BenchContext, Collected, SweepFigures
from devkit.bench.hops import probe_hops
from devkit.bench.kafka_runtime import KafkaRuntime
from devkit.bench.load import RUNTIME, CpuClock, LoadStep, step_up
from devkit.bench.measure import sequential, windowed
from devkit.bench.memory_per_request import memory_per_request
from devkit.bench.options import MeasuredBroker
from devkit.bench.results import Startup
from devkit.bench.workloads import CUSTOMER360, CUSTOMER360_HOLD, CUSTOMER360_NULL, Workload
from devkit.deployment.local import NO_BROKER_YET, LocalDeployment
from devkit.deployment.usage import busy_cores, cpu_seconds, machine_busy_seconds
from streams.settings import Settings

_SHARE_DEADLINE_S = 30.0


def _segments(ctx: BenchContext, *, first: bool) -> list[list[str]]:
    """Measurement groups, each on a deployment of its own (one for all with ``fresh_deployments`` off).

    A sweep point is a group of its own: the bursts of one graph would otherwise slow the next down.
    """
    sweep = [f"sweep:{workload.name}" for _, _, workload in ctx.sweep]
    if not first:
        groups = [["latency"], ["load"]]
    elif ctx.sizes.fresh_deployments:
        groups = [["memory"], ["latency"], *([point] for point in sweep), ["load"]]
    else:  # memory first: what later measurements free, the worker would reuse without growing
        groups = [["memory"], ["latency"], sweep, ["load"]]
    if ctx.sizes.fresh_deployments:
        return groups
    return [[segment for group in groups for segment in group]]


def planned_steps(ctx: BenchContext, *, first: bool) -> int:
    """Progress steps :func:`run_kafka` will tick."""
    sizes = ctx.sizes
    steps = 2 * len(_segments(ctx, first=first)) + 2 * sizes.single_requests + len(sizes.load_rates)
    if first:
        steps += 2 + len(ctx.sweep)
    return steps


@dataclass(kw_only=True)
class _Deployment:
    runtime: KafkaRuntime
    broker_pid: int | None
    """The local broker's process; None on a ``--bootstrap`` cluster, whose CPU is not ours to read."""


async def run_kafka(
    ctx: BenchContext, collected: Collected, *, broker: MeasuredBroker, workers: int, first: bool
) -> None:
    """The runtime of ``workers`` workers on ``broker``; ``first``: its first on this broker (hops, sweeps, memory)."""
    name = broker.runtime(workers)
    for i, group in enumerate(_segments(ctx, first=first)):
        swept = [ctx.workloads[part.partition(":")[2]] for part in group if part.startswith("sweep:")]
        segment = "-".join(part.partition(":")[2] or part for part in group)
        deployment = _deployment(
            ctx,
            collected,
            broker=broker,
            name=name,
            workers=workers,
            segment=segment,
            first=first and i == 0,
            warm=swept if group == [f"sweep:{w.name}" for w in swept] else None,
        )
        async with deployment as d:
            for part in group:  # in the group's order: memory first (see _segments)
                if swept and part == f"sweep:{swept[0].name}":
                    await _sweep(ctx, collected, d, broker, swept)
                elif part == "latency":
                    await _single(ctx, collected, d.runtime, name)
                elif part == "memory":
                    await _memory(ctx, collected, d.runtime, name)
                elif part == "load":
                    await _load(ctx, collected, d.runtime, name, d.broker_pid)


async def _single(ctx: BenchContext, collected: Collected, runtime: KafkaRuntime, name: str) -> None:
    for workload_name in (CUSTOMER360, CUSTOMER360_NULL):
        ctx.progress.phase(f"{name}: {workload_name}, one request at a time")
        samples = await sequential(
            runtime,
            ctx.workloads[workload_name],
            ctx.keys[: ctx.sizes.single_requests],
            prefix=f"{workload_name}",
            tick=ctx.progress.advance,
        )
        collected.add_single(workload_name, name, samples)


@contextlib.asynccontextmanager
async def _deployment(
    ctx: BenchContext,
    collected: Collected,
    *,
    broker: MeasuredBroker,
    name: str,
    workers: int,
    segment: str,
    first: bool = False,
    warm: list[Workload] | None = None,
) -> AsyncIterator[_Deployment]:
    """Broker (unless given), topics, ``workers`` workers, warmed up; the first one also times start-up.

    ``warm``: only these workloads warm it up (a sweep point), else the full warm-up.
    """
    prefix = f"bench-{ctx.run_id}-{name}-{segment}"
    configs, pipelines = ctx.pipelines_for(f"{name}-{segment}", output_topic=f"{prefix}.profiles")
    progress = ctx.progress
    async with contextlib.AsyncExitStack() as stack:
        if broker.owned:
            progress.phase(f"{name}: starting a local broker")
        bootstrap = NO_BROKER_YET if broker.owned else broker.where
        local = LocalDeployment(
            settings=Settings(bootstrap=bootstrap, configs=configs).isolated(prefix),
            workdir=ctx.workdir / f"{name}-{segment}",
            broker=broker.kind,
            upstream_env=ctx.upstreams.env(),
            log_level="WARNING",
        )
        await stack.enter_async_context(local)
        broker_pid = local.broker.pid if local.broker is not None else None
        runtime = KafkaRuntime(
            name=prefix,
            deployment=local,
            output_topic=f"{prefix}.profiles",
            pipelines=pipelines,
            workers=workers,
        )
        stack.push_async_callback(runtime.stop)
        progress.phase(f"{name}: starting {workers} worker(s)")
        seconds = await runtime.start(probe=ctx.customer360_null, probe_key=ctx.keys[0])
        if first:
            collected.startup.append(Startup(runtime=name, seconds=seconds))
        progress.advance()
        if warm is None:
            await _warm_up(ctx, runtime, name)
        else:
            progress.phase(f"{name}: warm-up")
            for workload in warm:
                await sequential(
                    runtime, workload, ctx.keys[: ctx.sizes.warmup_requests], prefix=f"warm-{workload.name}"
                )
            progress.advance()
        if first:  # after the warm-up: a broker's first requests are slower (a JVM compiles its code)
            progress.phase(f"{broker.label}: one-hop probe")
            collected.hops[broker.label] = await probe_hops(
                runtime.settings,
                waits_ms=ctx.sizes.hop_waits_ms,
                messages=ctx.sizes.hop_messages,
                prefix=prefix,
                seed=ctx.options.seed,
            )
            progress.advance()
        yield _Deployment(runtime=runtime, broker_pid=broker_pid)
        if runtime.collector.duplicates:
            ctx.notes.append(
                f"{name} ({segment}): {runtime.collector.duplicates} duplicate profile(s) received"
            )


async def _warm_up(ctx: BenchContext, runtime: KafkaRuntime, name: str) -> None:
    """Every workload once or more, then rounds of traffic until every worker takes a share of it."""
    sizes, progress = ctx.sizes, ctx.progress
    progress.phase(f"{name}: warm-up")
    for workload_name in (CUSTOMER360, CUSTOMER360_NULL):
        warm = ctx.keys[: sizes.warmup_requests]
        await sequential(runtime, ctx.workloads[workload_name], warm, prefix=f"warm-{workload_name}")
    started = time.monotonic()
    pids = runtime.worker_pids
    rounds = 0
    while True:
        before = [cpu_seconds([pid]) for pid in pids]
        keys = ctx.keys[: 20 * len(pids)]
        await windowed(runtime, ctx.customer360_null, keys, window=8, prefix=f"warm-round-{rounds}")
        used = [cpu_seconds([pid]) - b for pid, b in zip(pids, before, strict=True)]
        rounds += 1
        shared = min(used) >= 0.25 * max(used)
        elapsed = time.monotonic() - started
        if shared and elapsed >= sizes.min_warmup_s:
            break
        if elapsed > _SHARE_DEADLINE_S:
            ctx.notes.append(
                f"{name}: the workers did not share the warm-up traffic within {_SHARE_DEADLINE_S:g} s"
            )
            break
    progress.advance()


async def _idle_cpu_rate(runtime: KafkaRuntime, broker_pid: int | None) -> tuple[float, float]:
    """Cores the workers and the broker use with no traffic (consumers polling).

    The lower of two half-second readings: a reading that catches the tail of
    earlier work (a stats snapshot, a late commit) overstates the idle rate, and
    an overstated rate subtracted from a short burst's CPU leaves nothing.
    """
    broker_pids = [broker_pid] if broker_pid is not None else []
    readings = [
        await asyncio.gather(
            busy_cores(runtime.worker_pids, window_s=0.5), busy_cores(broker_pids, window_s=0.5)
        )
        for _ in range(2)
    ]
    return min(r[0] for r in readings), min(r[1] for r in readings)


async def _sweep(
    ctx: BenchContext,
    collected: Collected,
    deployment: _Deployment,
    broker: MeasuredBroker,
    workloads: list[Workload],
) -> None:
    sizes, progress = ctx.sizes, ctx.progress
    runtime, broker_pid = deployment.runtime, deployment.broker_pid
    broker_pids = [broker_pid] if broker_pid is not None else []
    idle_workers, idle_broker = await _idle_cpu_rate(runtime, broker_pid)
    name = broker.runtime(1)
    collected.idle_cores.setdefault(f"{name} worker", idle_workers)
    if broker_pid is not None:
        collected.idle_cores.setdefault(f"{broker.label} broker", idle_broker)
    for workload in workloads:
        progress.phase(f"{name}: {workload.name}")
        await sequential(runtime, workload, ctx.keys[:2], prefix=f"first-{workload.name}")
        samples = await sequential(runtime, workload, ctx.keys[: sizes.sweep_requests], prefix=workload.name)
        keys = [ctx.keys[i % len(ctx.keys)] for i in range(sizes.sweep_burst)]
        workers_before, broker_before = runtime.worker_cpu_seconds(), cpu_seconds(broker_pids)
        elapsed, _ = await windowed(
            runtime, workload, keys, window=sizes.sweep_window, prefix=f"cpu-{workload.name}"
        )
        raw_cpu = runtime.worker_cpu_seconds() - workers_before
        worker_cpu = raw_cpu - idle_workers * elapsed
        broker_cpu = cpu_seconds(broker_pids) - broker_before - idle_broker * elapsed
        figures = SweepFigures(
            latency=samples.e2e,
            cpu_ms_per_request=worker_cpu * 1000.0 / len(keys) if worker_cpu > 0 else None,
            raw_cpu_ms_per_request=raw_cpu * 1000.0 / len(keys),
            broker_cpu_ms_per_request=broker_cpu * 1000.0 / len(keys)
            if broker_pids and broker_cpu > 0
            else None,
        )
        collected.add_sweep(workload.name, name, figures)
        progress.advance()


async def _memory(ctx: BenchContext, collected: Collected, runtime: KafkaRuntime, name: str) -> None:
    ctx.progress.phase(f"{name}: memory per request in flight")
    collected.memory.append(
        await memory_per_request(
            runtime,
            ctx.workloads[CUSTOMER360_HOLD],
            ctx.keys,
            runtime=name,
            counts=ctx.sizes.memory_in_flight,
            pids=runtime.worker_pids,
            prefix=f"memory-{name}",
        )
    )
    ctx.progress.advance()


async def _load(
    ctx: BenchContext, collected: Collected, runtime: KafkaRuntime, name: str, broker_pid: int | None
) -> None:
    sizes, progress = ctx.sizes, ctx.progress
    progress.phase(f"{name}: open-loop load")
    facts = ctx.facts[CUSTOMER360_NULL]

    def stepped(step: LoadStep) -> None:
        progress.note(f"{name}: open-loop load, {step.offered_rps:g} req/s: p99 {step.e2e.p99:.0f} ms")
        progress.advance()

    result = await step_up(
        runtime,
        ctx.customer360_null,
        ctx.keys,
        rates=sizes.load_rates,
        duration_s=sizes.load_step_s,
        threshold_ms=CAPACITY_P99_MS,
        ceiling_ms=facts.deadline_ms,
        tasks_per_request=facts.tasks,
        prefix=f"load-{name}",
        cpu=_cpu_clocks(runtime, broker_pid),
        on_step=stepped,
    )
    collected.load[name] = result
    progress.advance(len(sizes.load_rates) - len(result.steps))


def _cpu_clocks(runtime: KafkaRuntime, broker_pid: int | None) -> dict[str, CpuClock]:
    """The CPU read per load step: workers, the broker (only one the bench started), the bench, the machine."""
    clocks: dict[str, CpuClock] = {
        RUNTIME: runtime.worker_cpu_seconds,
        CLIENT_CPU: lambda: cpu_seconds([os.getpid()]),
        "machine": machine_busy_seconds,
    }
    if broker_pid is not None:
        clocks[BROKER_CPU] = lambda: cpu_seconds([broker_pid])
    return clocks
