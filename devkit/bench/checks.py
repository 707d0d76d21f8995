"""The targets of the performance issue (issue 16), each with the figure that decides it and a pass/fail mark.

Pure functions over a run's figures. The Kafka targets are judged on one broker,
Apache Kafka when the run measured it (the issue's targets are for Kafka), else
the one it measured; the same figure on every other broker is shown beside,
not judged. A missed target is a finding, not an error: ``graphfetch bench``
exits 0 either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from devkit.bench.load import RUNTIME, LoadResult, LoadStep
from devkit.bench.results import HopProbe, Memory, SingleRequest, Sweep, SweepPoint, TargetCheck
from devkit.bench.stats import Overhead

ISSUE = 16
"""The performance issue whose targets these are."""
LEVEL_P50_MS = 3.0
LEVEL_P99_MS = 10.0
"""Kafka runtime over the in-process engine, per dependency level."""
KAFKA_OVER_FLOOR_P50_MS = 12.0
"""customer360 end to end on Kafka (1 worker) over the floor."""
INPROCESS_OVER_FLOOR_P50_MS = 1.0
CAPACITY_RPS = 500.0
CAPACITY_P99_MS = 100.0
"""A load step *holds* when its p99 is within this (and it kept up, all complete)."""
WORKER_CPU_MS = 1.5
"""Worker CPU per customer360 request on the Kafka path."""
WIDE_OVER_NARROW = 1.25
"""CPU per node of a 64-wide graph over a 4-wide one."""
MEMORY_KIB = 30.0
"""Memory per request in flight."""
MIN_P99_SAMPLES = 100
"""Fewer samples make a p99 little more than their maximum: such a figure is shown, not judged."""
BROKER_CPU = "broker"
CLIENT_CPU = "bench client"
"""Keys of :attr:`LoadStep.cpu_ms_per_request` besides the runtime's own."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One broker's figure for a target: the text shown and, when it can be judged, the verdict."""

    text: str
    passed: bool | None


NOT_MEASURED = Figure("not measured", None)


def judge(value: float | None, limit: float, *, above: bool = False) -> bool | None:
    """``value <= limit`` (``>=`` with ``above``); None when there is no value."""
    if value is None or math.isnan(value):
        return None
    return value >= limit if above else value <= limit


def _ms(value: float) -> str:
    return f"{value:.2f} ms"


def _on_brokers(
    target: str, *, judged: str | None, others: Sequence[str], figure: Callable[[str], Figure]
) -> TargetCheck:
    """``figure`` of the judged broker, marked, and of every other broker beside it."""
    if judged is None:
        return TargetCheck(target=target, measured="not measured (no Kafka runtime in this run)", passed=None)
    mine = figure(judged)
    beside = {broker: figure(broker).text for broker in others}
    return TargetCheck(target=target, measured=mine.text, passed=mine.passed, beside=beside)


def _samples(single: SingleRequest, runtime: str) -> int:
    """Samples behind an overhead of ``runtime`` over the in-process engine: the fewer of the two."""
    counts = [r.e2e.n for r in single.runtimes if r.runtime in (runtime, "inprocess")]
    return min(counts, default=0)


def _sweep_samples(sweep: Sweep, runtime: str) -> int:
    depth = [p for p in sweep.points if p.shape == "depth"]
    counts = [p.kafka[runtime].latency.n for p in depth if runtime in p.kafka]
    counts += [p.inprocess.n for p in depth if p.inprocess is not None]
    return min(counts, default=0)


def _p99(value: float, samples: int, limit: float) -> Figure:
    if samples < MIN_P99_SAMPLES:
        return Figure(f"{_ms(value)} (p99 of {samples} samples: not judged)", None)
    return Figure(_ms(value), judge(value, limit))


def inprocess_over_floor(single: SingleRequest | None) -> TargetCheck:
    over = single.inprocess_over_floor if single else None
    target = f"in-process engine over the floor, customer360, p50 <= {INPROCESS_OVER_FLOOR_P50_MS:g} ms"
    if over is None:
        return TargetCheck(target=target, measured=NOT_MEASURED.text, passed=None)
    return TargetCheck(
        target=target, measured=_ms(over.p50), passed=judge(over.p50, INPROCESS_OVER_FLOOR_P50_MS)
    )


def _level_figure(
    quantile: str,
    *,
    over_of: Callable[[str], Overhead | None],
    samples_of: Callable[[str], int],
    hops: Mapping[str, HopProbe],
) -> Callable[[str], Figure]:
    """A broker's 1-worker figure per level at ``quantile`` (p50 or p99), from ``over_of(runtime)``;
    at p50 with the broker's own floor beside it, two hops of a bare client (:meth:`HopProbe.level_floor_ms`)."""

    def figure(broker: str) -> Figure:
        runtime = f"{broker}-1"
        over = over_of(runtime)
        if over is None:
            return NOT_MEASURED
        if quantile == "p99":
            shown = _p99(over.p99, samples_of(runtime), LEVEL_P99_MS)
            return Figure(f"{runtime}: {shown.text}", shown.passed)
        probe = hops.get(broker)
        floor = (
            "" if probe is None else f" (two hops of a bare client after idle: {_ms(probe.level_floor_ms())})"
        )
        return Figure(f"{runtime}: {_ms(over.p50)}{floor}", judge(over.p50, LEVEL_P50_MS))

    return figure


def per_level(
    single: SingleRequest | None,
    sweep: Sweep | None,
    *,
    hops: Mapping[str, HopProbe],
    judged: str | None,
    others: Sequence[str],
) -> list[TargetCheck]:
    """Kafka (1 worker) over in-process per level: customer360's overhead / 3, and the depth sweep's slope."""

    def customer360(quantile: str) -> Callable[[str], Figure]:
        return _level_figure(
            quantile,
            over_of=lambda runtime: single.kafka_over_inprocess_per_level.get(runtime) if single else None,
            samples_of=lambda runtime: _samples(single, runtime) if single else 0,
            hops=hops,
        )

    def slope(quantile: str) -> Callable[[str], Figure]:
        return _level_figure(
            quantile,
            over_of=lambda runtime: sweep.kafka_ms_per_level.get(runtime) if sweep else None,
            samples_of=lambda runtime: _sweep_samples(sweep, runtime) if sweep else 0,
            hops=hops,
        )

    rows = [
        (
            f"Kafka over in-process per level, customer360 (fixed hops included), p50 <= {LEVEL_P50_MS:g} ms",
            customer360("p50"),
        ),
        (f"... p99 <= {LEVEL_P99_MS:g} ms", customer360("p99")),
        (
            f"Kafka over in-process per level, slope of the depth sweep, p50 <= {LEVEL_P50_MS:g} ms",
            slope("p50"),
        ),
        (f"... p99 <= {LEVEL_P99_MS:g} ms", slope("p99")),
    ]
    return [_on_brokers(target, judged=judged, others=others, figure=f) for target, f in rows]


def kafka_over_floor(
    single: SingleRequest | None,
    *,
    hops: Mapping[str, HopProbe],
    judged: str | None,
    others: Sequence[str],
) -> TargetCheck:
    """customer360 on Kafka over the floor, with the broker's own share beside it: the request's hops
    (in, a task and a result per level, the profile out), each at a bare client's p50."""

    def figure(broker: str) -> Figure:
        runtime = f"{broker}-1"
        over = single.kafka_over_floor.get(runtime) if single else None
        if single is None or over is None:
            return NOT_MEASURED
        probe = hops.get(broker)
        floor = ""
        if probe is not None:
            count = 2 + 2 * single.levels
            floor = f" ({count} hops of a bare client after idle: {_ms(count * probe.hop_ms())})"
        return Figure(f"{runtime}: {_ms(over.p50)}{floor}", judge(over.p50, KAFKA_OVER_FLOOR_P50_MS))

    target = (
        f"customer360 end to end on Kafka, 1 worker, over the floor, p50 <= {KAFKA_OVER_FLOOR_P50_MS:g} ms"
    )
    return _on_brokers(target, judged=judged, others=others, figure=figure)


def _rate_text(result: LoadResult) -> str:
    held, kept = result.max_rate_holding, result.max_rate_sustained
    text = "none held" if held is None else f"{held:g} req/s ({held * result.tasks_per_request:,.0f} tasks/s)"
    sustained = "none" if kept is None else f"{kept:g} req/s"
    return f"{text}; sustained (p99 <= {result.ceiling_ms:g} ms) up to {sustained}"


def capacity(
    load: Mapping[str, LoadResult], *, judged: str | None, others: Sequence[str]
) -> list[TargetCheck]:
    """Highest rate that holds (p99 <= :data:`CAPACITY_P99_MS`) with 1 worker, and higher with 2."""

    def one(broker: str) -> Figure:
        result = load.get(f"{broker}-1")
        if result is None:
            return NOT_MEASURED
        return Figure(
            f"{broker}-1: {_rate_text(result)}",
            judge(result.max_rate_holding or 0.0, CAPACITY_RPS, above=True),
        )

    def two(broker: str) -> Figure:
        first, second = load.get(f"{broker}-1"), load.get(f"{broker}-2")
        if second is None:
            return NOT_MEASURED
        higher = None if first is None else (second.max_rate_holding or 0.0) > (first.max_rate_holding or 0.0)
        return Figure(f"{broker}-2: {_rate_text(second)}", higher)

    target = (
        f"capacity, customer360 on the null connector, 1 worker: >= {CAPACITY_RPS:g} req/s "
        f"with p99 <= {CAPACITY_P99_MS:g} ms"
    )
    return [
        _on_brokers(target, judged=judged, others=others, figure=one),
        _on_brokers("... and higher with 2 workers", judged=judged, others=others, figure=two),
    ]


def _judged_step(result: LoadResult) -> tuple[LoadStep | None, str]:
    """The step whose worker CPU is judged: the highest rate that held, else the highest sustained."""
    held = result.step_at(result.max_rate_holding)
    if held is not None:
        return held, "highest rate held"
    kept = result.step_at(result.max_rate_sustained)
    if kept is not None:
        return kept, "none held; highest sustained"
    return None, "no rate sustained"


def _per_request(step: LoadStep, key: str) -> str:
    value = step.cpu_ms_per_request.get(key)
    return "not measured" if value is None else _ms(value)


def worker_cpu(load: Mapping[str, LoadResult], *, judged: str | None, others: Sequence[str]) -> TargetCheck:
    """Worker CPU per request (1 worker) at the step of :func:`_judged_step`, broker and load generator beside."""

    def figure(broker: str) -> Figure:
        runtime = f"{broker}-1"
        result = load.get(runtime)
        if result is None:
            return NOT_MEASURED
        step, which = _judged_step(result)
        if step is None or RUNTIME not in step.cpu_ms_per_request:
            return Figure(f"{runtime}: {which}", None)
        worker = step.cpu_ms_per_request[RUNTIME]
        text = (
            f"{runtime}: {_ms(worker)} at {step.offered_rps:g} req/s ({which}); per request also "
            f"broker {_per_request(step, BROKER_CPU)}, load generator {_per_request(step, CLIENT_CPU)}"
        )
        return Figure(text, judge(worker, WORKER_CPU_MS))

    target = f"worker CPU per customer360 request on the Kafka path <= {WORKER_CPU_MS:g} ms"
    return _on_brokers(target, judged=judged, others=others, figure=figure)


def _cpu_per_node(point: SweepPoint, runtime: str) -> float | None:
    if runtime == "inprocess":
        cpu = point.inprocess_cpu_ms_per_request
    else:
        kafka = point.kafka.get(runtime)
        cpu = kafka.cpu_ms_per_request if kafka else None
    return cpu / point.nodes if cpu is not None else None


def _wide_over_narrow(sweep: Sweep | None, runtime: str) -> Figure:
    widths = {p.size: p for p in sweep.points if p.shape == "width"} if sweep else {}
    narrow = _cpu_per_node(widths[4], runtime) if 4 in widths else None
    wide = _cpu_per_node(widths[64], runtime) if 64 in widths else None
    if narrow is None or wide is None or narrow <= 0:
        return NOT_MEASURED
    ratio = wide / narrow
    text = f"{runtime}: CPU per node {wide * 1000:.0f} us at width 64, {narrow * 1000:.0f} us at width 4 ({ratio:.2f}x)"
    return Figure(text, judge(ratio, WIDE_OVER_NARROW))


def linear(sweep: Sweep | None, *, judged: str | None, others: Sequence[str]) -> list[TargetCheck]:
    return _engine_and_worker(
        f"64-wide graph: CPU per node <= {WIDE_OVER_NARROW:g}x a 4-wide one's",
        inprocess=_wide_over_narrow(sweep, "inprocess"),
        worker=lambda runtime: _wide_over_narrow(sweep, runtime),
        judged=judged,
        others=others,
    )


def _engine_and_worker(
    target: str,
    *,
    inprocess: Figure,
    worker: Callable[[str], Figure],
    judged: str | None,
    others: Sequence[str],
) -> list[TargetCheck]:
    """A target of the in-process engine and of a 1-worker Kafka runtime (``worker(runtime)``)."""
    return [
        TargetCheck(target=f"in-process: {target}", measured=inprocess.text, passed=inprocess.passed),
        _on_brokers(
            f"Kafka worker: {target}",
            judged=judged,
            others=others,
            figure=lambda broker: worker(f"{broker}-1"),
        ),
    ]


def memory_figure(memory: Memory | None) -> Figure:
    """KiB per request in flight, judged only when resolved and read at the right time."""
    if memory is None:
        return NOT_MEASURED
    name = memory.runtime
    if memory.kib_per_request is None:
        grown = (memory.rss_mib[2] - memory.rss_mib[1]) * 1024
        return Figure(
            f"{name}: not resolved (RSS grew {grown:.0f} KiB from {memory.in_flight[0]} to "
            f"{memory.in_flight[1]} in flight, under {memory.resolution_kib:.0f} KiB: memory freed earlier was reused)",
            None,
        )
    if not memory.settled:
        return Figure(
            f"{name}: {memory.kib_per_request:.1f} KiB (read before the process settled: not judged)", None
        )
    return Figure(f"{name}: {memory.kib_per_request:.1f} KiB", judge(memory.kib_per_request, MEMORY_KIB))


def memory_per_request(
    memory: Sequence[Memory], *, judged: str | None, others: Sequence[str]
) -> list[TargetCheck]:
    by_runtime = {m.runtime: m for m in memory}
    return _engine_and_worker(
        f"memory per request in flight <= {MEMORY_KIB:g} KiB",
        inprocess=memory_figure(by_runtime.get("inprocess")),
        worker=lambda runtime: memory_figure(by_runtime.get(runtime)),
        judged=judged,
        others=others,
    )


def check_targets(
    *,
    single: Mapping[str, SingleRequest],
    sweep: Sweep | None,
    load: Mapping[str, LoadResult],
    memory: Sequence[Memory],
    hops: Mapping[str, HopProbe],
    brokers: Sequence[str],
) -> list[TargetCheck]:
    """Every target of issue 16; ``brokers``: the labels of the brokers measured, in order; ``hops``:
    their one-hop probes, whose floor is shown beside the figures per level."""
    judged = judged_broker(brokers)
    others = [b for b in brokers if b != judged]
    customer360 = single.get("customer360")
    return [
        *per_level(customer360, sweep, hops=hops, judged=judged, others=others),
        kafka_over_floor(customer360, hops=hops, judged=judged, others=others),
        inprocess_over_floor(customer360),
        *capacity(load, judged=judged, others=others),
        worker_cpu(load, judged=judged, others=others),
        *linear(sweep, judged=judged, others=others),
        *memory_per_request(memory, judged=judged, others=others),
    ]


def judged_broker(brokers: Sequence[str]) -> str | None:
    """``kafka`` when measured (the issue's targets are for Apache Kafka), else the first broker measured."""
    if "kafka" in brokers:
        return "kafka"
    return brokers[0] if brokers else None
