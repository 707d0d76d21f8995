"""From raw figures to the report: overheads between runtimes, sweep slopes, targets, machine facts."""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from pathlib import Path

import psutil

from devkit.bench.checks import check_targets, judged_broker
from devkit.bench.context import BenchContext, Collected
from devkit.bench.results import (
    BenchReport,
    KafkaSweepPoint,
    Machine,
    Phase,
    RuntimeLatency,
    SingleRequest,
    Sweep,
    SweepPoint,
)
from devkit.bench.stats import Overhead, fit_line
from devkit.bench.workloads import CUSTOMER360, CUSTOMER360_NULL
from streams.settings import Settings

_LOCAL = ("floor", "inprocess")
"""The runtimes in the bench's own process; every other one is a Kafka runtime (kafka-1, tansu-2, ...)."""
_QUANTILES = ("p50", "p95", "p99")


def machine(*, brokers: list[str], load_before: float, other_cores: float) -> Machine:
    return Machine(
        cpu=_cpu_model(),
        cores=psutil.cpu_count() or 0,
        memory_gib=round(psutil.virtual_memory().total / 2**30, 1),
        python=sys.version.split()[0],
        platform=platform.platform(terse=True),
        brokers=brokers,
        load_average_before=load_before,
        load_average_after=os.getloadavg()[0],
        other_cores=other_cores,
        worker_event_loop=_worker_event_loop(),
    )


def _worker_event_loop() -> str:
    """The loop ``graphfetch worker`` runs on with the environment's settings (the bench's own is asyncio's)."""
    choice = Settings().event_loop
    if choice == "asyncio":
        return "asyncio"
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def single_requests(ctx: BenchContext, collected: Collected) -> dict[str, SingleRequest]:
    out: dict[str, SingleRequest] = {}
    for name in (CUSTOMER360, CUSTOMER360_NULL):
        by_runtime = collected.single.get(name)
        if not by_runtime:
            continue
        facts = ctx.facts[name]
        floor, inprocess = by_runtime.get("floor"), by_runtime.get("inprocess")
        kafka = {r: s for r, s in by_runtime.items() if r not in _LOCAL}
        kafka_over = {r: s.e2e.minus(inprocess.e2e) for r, s in kafka.items() if inprocess is not None}
        out[name] = SingleRequest(
            workload=name,
            levels=facts.levels,
            tasks=facts.tasks,
            critical_path_ms=facts.critical_path_ms,
            runtimes=[
                RuntimeLatency(runtime=runtime, e2e=s.e2e, profile=s.profile, not_complete=s.not_complete)
                for runtime, s in by_runtime.items()
            ],
            inprocess_over_floor=inprocess.e2e.minus(floor.e2e) if floor and inprocess else None,
            kafka_over_inprocess=kafka_over,
            kafka_over_inprocess_per_level={r: o.per(facts.levels) for r, o in kafka_over.items()},
            kafka_over_floor={r: s.e2e.minus(floor.e2e) for r, s in kafka.items() if floor is not None},
        )
    return out


def sweep(ctx: BenchContext, collected: Collected) -> Sweep | None:
    points = []
    for shape, size, workload in ctx.sweep:
        figures = collected.sweep.get(workload.name)
        if not figures:
            continue
        facts = ctx.facts[workload.name]
        floor, inprocess = figures.get("floor"), figures.get("inprocess")
        points.append(
            SweepPoint(
                shape=shape,
                size=size,
                nodes=facts.tasks,
                levels=facts.levels,
                floor=floor.latency if floor else None,
                inprocess=inprocess.latency if inprocess else None,
                inprocess_cpu_ms_per_request=inprocess.cpu_ms_per_request if inprocess else None,
                kafka={
                    runtime: KafkaSweepPoint(
                        latency=f.latency,
                        cpu_ms_per_request=f.cpu_ms_per_request,
                        raw_cpu_ms_per_request=f.raw_cpu_ms_per_request,
                        broker_cpu_ms_per_request=f.broker_cpu_ms_per_request,
                    )
                    for runtime, f in figures.items()
                    if runtime not in _LOCAL
                },
            )
        )
    if not points:
        return None
    depth = [p for p in points if p.shape == "depth"]
    levels = [float(p.levels) for p in depth]
    kafka_slopes: dict[str, Overhead] = {}
    for runtime in sorted({r for p in depth for r in p.kafka}):
        pairs = [(p.kafka[runtime].latency, p.inprocess) for p in depth if runtime in p.kafka and p.inprocess]
        if len(pairs) < len(depth):
            continue
        slopes = {
            q: fit_line(levels, [getattr(k, q) - getattr(i, q) for k, i in pairs])[0] for q in _QUANTILES
        }
        kafka_slopes[runtime] = Overhead(**slopes)
    inprocess_slope = None
    if all(p.inprocess and p.floor for p in depth):
        inprocess_slope = fit_line(
            levels, [p.inprocess.p50 - p.floor.p50 for p in depth if p.inprocess and p.floor]
        )[0]
    return Sweep(points=points, kafka_ms_per_level=kafka_slopes, inprocess_ms_per_level=inprocess_slope)


def assemble(
    ctx: BenchContext,
    collected: Collected,
    *,
    machine_facts: Machine,
    command: str,
    started_at: str,
    duration_s: float,
    phases: list[Phase],
) -> BenchReport:
    brokers = [b.label for b in ctx.options.measured_brokers] if ctx.options.wants("kafka") else []
    singles = single_requests(ctx, collected)
    swept = sweep(ctx, collected)
    return BenchReport(
        quick=ctx.options.quick,
        machine=machine_facts,
        command=command,
        started_at=started_at,
        duration_s=duration_s,
        single=list(singles.values()),
        sweep=swept,
        load=collected.load,
        memory=collected.memory,
        startup=collected.startup,
        judged_broker=judged_broker(brokers),
        hops=collected.hops,
        idle_cores=collected.idle_cores,
        adaptive=collected.adaptive,
        phases=phases,
        targets=check_targets(
            single=singles,
            sweep=swept,
            load=collected.load,
            memory=collected.memory,
            hops=collected.hops,
            brokers=brokers,
        ),
        notes=ctx.notes,
    )
