"""The targets of the performance issue, each with the figure that decides it and a pass/fail mark.

A missed target is a finding, not an error: ``graphfetch bench`` exits 0 either way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from devkit.bench.load import LoadResult
from devkit.bench.results import HopProbe, SingleRequest, Sweep, SweepPoint, TargetCheck
from streams.settings import Settings

MIN_P99_SAMPLES = 100
"""Fewer samples make a p99 little more than their maximum: such a figure is shown, not judged."""
HOPS_PER_LEVEL = 2
"""Aggregator -> tasks topic -> connector, connector -> results topic -> aggregator."""


def _mark(value: float | None, limit: float) -> bool | None:
    if value is None or math.isnan(value):
        return None
    return value <= limit


def _ms(value: float | None) -> str:
    return "not measured" if value is None or math.isnan(value) else f"{value:.2f} ms"


def _few(samples: int) -> str:
    if samples >= MIN_P99_SAMPLES:
        return ""
    return f" (p99 of {samples} samples: not judged)"


def hop_saving_ms(hops: HopProbe | None) -> float | None:
    """What one hop at the runtime's fetch wait costs beyond its produce round trip (Tansu's fetch wait)."""
    if hops is None:
        return None
    return hops.fetch_wait_ms(Settings().fetch_max_wait_ms)


def _inprocess(single: SingleRequest | None) -> TargetCheck:
    over = single.inprocess_over_floor if single else None
    value = over.p50 if over else None
    return TargetCheck(
        target="in-process overhead over the floor, customer360, p50 <= 1 ms",
        measured=_ms(value),
        passed=_mark(value, 1.0),
    )


def _per_level(single: SingleRequest | None, sweep: Sweep | None, hops: HopProbe | None) -> list[TargetCheck]:
    per_level = single.kafka_over_inprocess_per_level.get("kafka-1") if single else None
    saving = hop_saving_ms(hops)
    estimate = ""
    if per_level is not None and saving is not None:
        apache = per_level.p50 - HOPS_PER_LEVEL * saving
        estimate = f"; on Apache Kafka about {apache:.1f} ms (no fetch wait: -{saving:.1f} ms a hop)"
    slope = sweep.kafka_ms_per_level if sweep else None
    single_n = min((r.e2e.n for r in single.runtimes), default=0) if single else 0
    sweep_n = min((p.kafka.n for p in sweep.points if p.kafka), default=0) if sweep else 0
    return [
        TargetCheck(
            target="Kafka overhead over in-process per level, customer360, p50 <= 8 ms",
            measured=_ms(per_level.p50 if per_level else None) + estimate,
            passed=_mark(per_level.p50 if per_level else None, 8.0),
        ),
        TargetCheck(
            target="Kafka overhead over in-process per level, customer360, p99 <= 25 ms",
            measured=_ms(per_level.p99 if per_level else None) + _few(single_n),
            passed=_mark(per_level.p99 if per_level else None, 25.0) if single_n >= MIN_P99_SAMPLES else None,
        ),
        TargetCheck(
            target="Kafka overhead per level, slope over the depth sweep, p50 <= 8 ms",
            measured=_ms(slope.p50 if slope else None),
            passed=_mark(slope.p50 if slope else None, 8.0),
        ),
        TargetCheck(
            target="Kafka overhead per level, slope over the depth sweep, p99 <= 25 ms",
            measured=_ms(slope.p99 if slope else None) + _few(sweep_n),
            passed=_mark(slope.p99 if slope else None, 25.0) if sweep_n >= MIN_P99_SAMPLES else None,
        ),
    ]


def _capacity(load: Mapping[str, LoadResult]) -> list[TargetCheck]:
    one, two = load.get("kafka-1"), load.get("kafka-2")
    one_rate = one.max_rate_holding if one else None
    two_rate = two.max_rate_holding if two else None

    def text(result: LoadResult | None, rate: float | None) -> str:
        if result is None:
            return "not measured"
        held = (
            "none held" if rate is None else f"{rate:g} req/s = {rate * result.tasks_per_request:g} tasks/s"
        )
        kept = result.max_rate_sustained
        sustained = "none" if kept is None else f"{kept:g} req/s"
        return f"{held} (sustained with p99 <= {result.ceiling_ms:g} ms: {sustained})"

    checks = [
        TargetCheck(
            target="null-connector customer360 with 1 worker >= 500 req/s (>= 3,000 tasks/s) with p99 <= 2x critical path",
            measured=text(one, one_rate),
            passed=None if one is None else (one_rate or 0.0) >= 500.0,
        )
    ]
    if two is not None:
        passed = None if one is None else (two_rate or 0.0) > (one_rate or 0.0)
        checks.append(
            TargetCheck(target="... and higher with 2 workers", measured=text(two, two_rate), passed=passed)
        )
    return checks


def _per_node(point: SweepPoint, runtime: str) -> float | None:
    cpu = point.kafka_cpu_ms_per_request if runtime == "kafka" else point.inprocess_cpu_ms_per_request
    return cpu / point.nodes if cpu is not None else None


def _linear(sweep: Sweep | None) -> list[TargetCheck]:
    widths = {p.size: p for p in sweep.points if p.shape == "width"} if sweep else {}
    checks = []
    for runtime in ("kafka", "inprocess"):
        narrow = _per_node(widths[4], runtime) if 4 in widths else None
        wide = _per_node(widths[64], runtime) if 64 in widths else None
        if narrow is None or wide is None or narrow <= 0:
            measured, passed = "not measured", None
        else:
            ratio = wide / narrow
            measured = f"CPU per node {wide * 1000:.0f} us at width 64, {narrow * 1000:.0f} us at width 4 ({ratio:.2f}x)"
            passed = ratio <= 1.25
        checks.append(
            TargetCheck(
                target=f"{runtime}: 64-wide graph costs per node <= 1.25x a 4-wide one",
                measured=measured,
                passed=passed,
            )
        )
    return checks


def check_targets(
    *,
    single: Mapping[str, SingleRequest],
    sweep: Sweep | None,
    load: Mapping[str, LoadResult],
    hops: HopProbe | None,
) -> list[TargetCheck]:
    customer360 = single.get("customer360")
    return [
        _inprocess(customer360),
        *_per_level(customer360, sweep, hops),
        *_capacity(load),
        *_linear(sweep),
    ]
