"""The floor and the in-process engine, both in the bench's own process, measured side by side.

They run before any worker exists, so nothing else of graphfetch competes for
the CPU, and request by request in turn (see :func:`devkit.bench.measure.interleaved`).
"""

from __future__ import annotations

import contextlib
import os
import time

from devkit.bench.checks import CAPACITY_P99_MS
from devkit.bench.context import BenchContext, Collected, SweepFigures
from devkit.bench.floor import Customer360Floor, Floor, SleepFloor
from devkit.bench.load import RUNTIME, step_up
from devkit.bench.measure import interleaved, windowed
from devkit.bench.memory_per_request import memory_per_request
from devkit.bench.targets import FloorTarget, InProcessTarget, Target
from devkit.bench.workloads import CUSTOMER360, CUSTOMER360_HOLD, CUSTOMER360_NULL
from devkit.deployment.usage import cpu_seconds, machine_busy_seconds
from streams.engine.inprocess import InProcessEngine
from streams.heap import freeze_startup_heap


def planned_steps(ctx: BenchContext) -> int:
    """Progress steps :func:`run_local` will tick."""
    sizes = ctx.sizes
    steps = 2 * sizes.single_requests + len(ctx.sweep)
    if ctx.options.wants("inprocess"):
        steps += 1 + len(sizes.load_rates)
    return steps


async def run_local(ctx: BenchContext, collected: Collected) -> None:
    sizes, progress = ctx.sizes, ctx.progress
    _, pipelines = ctx.pipelines_for("inprocess", output_topic=f"bench-{ctx.run_id}.profiles")
    async with contextlib.AsyncExitStack() as stack:
        targets: dict[str, Target] = {}
        if ctx.options.wants("floor"):
            by_hand = await stack.enter_async_context(
                Customer360Floor(
                    base_url=ctx.upstreams.url, db_url=ctx.upstreams.db_url, token=ctx.upstreams.token
                )
            )
            floors: dict[str, Floor] = {CUSTOMER360: by_hand}
            for name, workload in ctx.workloads.items():
                if name != CUSTOMER360:
                    floors[name] = SleepFloor(facts=ctx.facts[name], node_ms=workload.node_ms)
            targets["floor"] = FloorTarget(floors)
        engine: InProcessEngine | None = None
        if ctx.options.wants("inprocess"):
            engine = await stack.enter_async_context(InProcessEngine())
            freeze_startup_heap()  # as a worker does once started: see streams.heap
            targets["inprocess"] = InProcessTarget(engine, pipelines)
        if not targets:
            return
        if engine is not None:  # first: later phases leave freed memory the process would reuse
            await _memory(ctx, collected, targets["inprocess"])
        for name in (CUSTOMER360, CUSTOMER360_NULL):
            progress.phase(f"floor and in-process: {name}")
            workload = ctx.workloads[name]
            await interleaved(targets, workload, ctx.keys[: sizes.warmup_requests], prefix=f"warm-{name}")
            measured = await interleaved(
                targets, workload, ctx.keys[: sizes.single_requests], prefix=name, tick=progress.advance
            )
            for runtime, samples in measured.items():
                collected.add_single(name, runtime, samples)
        for _, _, workload in ctx.sweep:
            progress.phase(f"floor and in-process: {workload.name}")
            await interleaved(targets, workload, ctx.keys[:2], prefix=f"warm-{workload.name}")
            measured = await interleaved(
                targets, workload, ctx.keys[: sizes.sweep_requests], prefix=workload.name
            )
            for runtime, samples in measured.items():
                figures = SweepFigures(latency=samples.e2e)
                if runtime == "inprocess":
                    figures.cpu_ms_per_request = await _cpu_per_request(ctx, targets[runtime], workload.name)
                collected.add_sweep(workload.name, runtime, figures)
            progress.advance()
        if engine is not None:
            await _load(ctx, collected, targets["inprocess"])


async def _cpu_per_request(ctx: BenchContext, target: Target, name: str) -> float:
    """This process's CPU per request with a window of requests in flight."""
    sizes = ctx.sizes
    keys = [ctx.keys[i % len(ctx.keys)] for i in range(sizes.sweep_burst)]
    before = time.process_time()
    await windowed(target, ctx.workloads[name], keys, window=sizes.sweep_window, prefix=f"cpu-{name}")
    return (time.process_time() - before) * 1000.0 / len(keys)


async def _memory(ctx: BenchContext, collected: Collected, target: Target) -> None:
    sizes, progress = ctx.sizes, ctx.progress
    progress.phase("in-process: memory per request in flight")
    collected.memory.append(
        await memory_per_request(
            target,
            ctx.workloads[CUSTOMER360_HOLD],
            ctx.keys,
            runtime="inprocess",
            counts=sizes.memory_in_flight,
            pids=[os.getpid()],
            prefix="memory-inprocess",
        )
    )
    progress.advance()


async def _load(ctx: BenchContext, collected: Collected, target: Target) -> None:
    sizes, progress = ctx.sizes, ctx.progress
    progress.phase("in-process: open-loop load")
    null = ctx.customer360_null
    facts = ctx.facts[CUSTOMER360_NULL]
    result = await step_up(
        target,
        null,
        ctx.keys,
        rates=sizes.load_rates,
        duration_s=sizes.load_step_s,
        threshold_ms=CAPACITY_P99_MS,
        ceiling_ms=facts.deadline_ms,
        tasks_per_request=facts.tasks,
        prefix="load-inprocess",
        cpu={RUNTIME: lambda: cpu_seconds([os.getpid()]), "machine": machine_busy_seconds},
        on_step=lambda _: progress.advance(),
    )
    collected.load["inprocess"] = result
    progress.advance(len(sizes.load_rates) - len(result.steps))
