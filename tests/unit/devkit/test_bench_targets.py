"""The targets of issue 16 judged from figures, and ``--broker`` read into the brokers a run measures.

Pure functions: no broker, no process. The figures are made up to sit on either
side of each bound.
"""

from __future__ import annotations

import pytest

from devkit.bench.checks import (
    MIN_P99_SAMPLES,
    capacity,
    check_targets,
    inprocess_over_floor,
    judged_broker,
    kafka_over_floor,
    memory_figure,
    per_level,
    worker_cpu,
)
from devkit.bench.load import RUNTIME, LoadResult, LoadStep
from devkit.bench.options import BenchOptions, parse_brokers
from devkit.bench.results import HopProbe, Memory, RuntimeLatency, SingleRequest, TargetCheck
from devkit.bench.stats import Overhead, Summary
from streams.cli.shared_options import BrokerKind


def summary(p50: float, *, p99: float | None = None, n: int = 200) -> Summary:
    top = p99 if p99 is not None else p50
    return Summary(n=n, p50=p50, p95=top, p99=top, mean=p50, max=top)


def overhead(p50: float, p99: float) -> Overhead:
    return Overhead(p50=p50, p95=p99, p99=p99)


def hop_probe(*, runtime_wait_ms: int, p50_ms: float) -> HopProbe:
    """A probe whose hop at the runtimes' wait takes ``p50_ms``, and twice as long at 5 ms."""
    return HopProbe(
        fetch_max_wait_ms=[5, runtime_wait_ms],
        p50_ms=[2 * p50_ms, p50_ms],
        p99_ms=[4 * p50_ms, 2 * p50_ms],
        ack_p50_ms=[p50_ms, p50_ms],
        runtime_fetch_max_wait_ms=runtime_wait_ms,
    )


def customer360(
    *, n: int = 200, per_level: dict[str, Overhead], over_floor: dict[str, Overhead]
) -> SingleRequest:
    runtimes = ["floor", "inprocess", *per_level]
    return SingleRequest(
        workload="customer360",
        levels=3,
        tasks=6,
        critical_path_ms=35.0,
        runtimes=[
            RuntimeLatency(runtime=r, e2e=summary(40.0, n=n), profile=None, not_complete=0) for r in runtimes
        ],
        inprocess_over_floor=overhead(0.8, 1.5),
        kafka_over_inprocess={r: o.per(1 / 3) for r, o in per_level.items()},
        kafka_over_inprocess_per_level=per_level,
        kafka_over_floor=over_floor,
    )


def step(rate: float, *, p99: float, worker_ms: float, broker_ms: float | None = 2.0) -> LoadStep:
    cpu = {RUNTIME: worker_ms, "bench client": 0.5}
    if broker_ms is not None:
        cpu["broker"] = broker_ms
    return LoadStep(
        offered_rps=rate,
        sent=int(rate),
        answered=int(rate),
        not_complete=0,
        lost=0,
        achieved_rps=rate,
        e2e=summary(50.0, p99=p99),
        profile=None,
        cpu_cores={},
        cpu_ms_per_request=cpu,
        holds=p99 <= 100.0,
        sustained=p99 <= 1000.0,
    )


def load(*steps: LoadStep) -> LoadResult:
    return LoadResult(
        workload="customer360-null",
        threshold_ms=100.0,
        ceiling_ms=1000.0,
        tasks_per_request=6,
        steps=list(steps),
    )


def test_kafka_targets_are_judged_on_apache_kafka_and_tansu_is_shown_beside() -> None:
    single = customer360(
        per_level={"kafka-1": overhead(2.5, 8.0), "tansu-1": overhead(9.0, 20.0)},
        over_floor={"kafka-1": overhead(11.0, 30.0), "tansu-1": overhead(30.0, 60.0)},
    )

    hops = {"kafka": hop_probe(runtime_wait_ms=100, p50_ms=1.75)}

    p50, p99, *_ = per_level(single, None, hops=hops, judged="kafka", others=["tansu"])
    over_floor = kafka_over_floor(single, hops=hops, judged="kafka", others=["tansu"])

    assert (p50.passed, p99.passed, over_floor.passed) == (True, True, True)
    assert p50.measured == "kafka-1: 2.50 ms (two hops of a bare client after idle: 3.50 ms)"
    assert p99.measured == "kafka-1: 8.00 ms"
    assert over_floor.measured == "kafka-1: 11.00 ms (8 hops of a bare client after idle: 14.00 ms)"
    assert p50.beside == {"tansu": "tansu-1: 9.00 ms"}
    assert over_floor.beside == {"tansu": "tansu-1: 30.00 ms"}


def test_a_level_over_three_ms_at_p50_or_ten_at_p99_fails() -> None:
    single = customer360(
        per_level={"kafka-1": overhead(3.1, 10.5)}, over_floor={"kafka-1": overhead(12.5, 40.0)}
    )

    p50, p99, *_ = per_level(single, None, hops={}, judged="kafka", others=[])

    assert (p50.passed, p99.passed) == (False, False)
    assert kafka_over_floor(single, hops={}, judged="kafka", others=[]).passed is False


def test_a_p99_of_fewer_than_a_hundred_samples_is_shown_not_judged() -> None:
    single = customer360(
        n=MIN_P99_SAMPLES - 1,
        per_level={"kafka-1": overhead(2.0, 50.0)},
        over_floor={"kafka-1": overhead(5.0, 9.0)},
    )

    _, p99, *_ = per_level(single, None, hops={}, judged="kafka", others=[])

    assert p99.passed is None
    assert "not judged" in p99.measured


def test_in_process_over_the_floor_is_judged_at_one_ms() -> None:
    single = customer360(per_level={}, over_floor={})

    assert inprocess_over_floor(single).passed is True
    assert inprocess_over_floor(None).passed is None


def test_capacity_counts_the_highest_rate_whose_p99_is_within_100_ms() -> None:
    one = load(
        step(200, p99=60.0, worker_ms=2.0),
        step(400, p99=90.0, worker_ms=1.6),
        step(800, p99=400.0, worker_ms=1.2),
    )
    two = load(
        step(200, p99=60.0, worker_ms=2.0),
        step(400, p99=80.0, worker_ms=1.6),
        step(800, p99=95.0, worker_ms=1.4),
    )

    one_worker, two_workers = capacity({"kafka-1": one, "kafka-2": two}, judged="kafka", others=[])

    assert one_worker.passed is False  # 400 held, 800 only sustained
    assert one_worker.measured.startswith("kafka-1: 400 req/s (2,400 tasks/s)")
    assert two_workers.passed is True  # 800 > 400


def test_capacity_of_500_per_second_with_one_worker_passes() -> None:
    one = load(step(500, p99=99.0, worker_ms=1.0))

    assert capacity({"kafka-1": one}, judged="kafka", others=[])[0].passed is True


def test_worker_cpu_is_judged_at_the_highest_rate_that_held_with_the_broker_beside() -> None:
    result = load(
        step(200, p99=60.0, worker_ms=2.0),
        step(400, p99=90.0, worker_ms=1.4),
        step(800, p99=400.0, worker_ms=1.0),
    )

    check = worker_cpu({"kafka-1": result}, judged="kafka", others=[])

    assert check.passed is True
    assert "1.40 ms at 400 req/s (highest rate held)" in check.measured
    assert "broker 2.00 ms" in check.measured
    assert "load generator 0.50 ms" in check.measured


def test_worker_cpu_falls_back_to_the_highest_sustained_rate_when_none_held() -> None:
    result = load(step(50, p99=150.0, worker_ms=1.8), step(100, p99=300.0, worker_ms=1.7))

    check = worker_cpu({"kafka-1": result}, judged="kafka", others=[])

    assert check.passed is False
    assert "at 100 req/s (none held; highest sustained)" in check.measured


def test_a_broker_the_bench_did_not_start_is_not_measured_never_zero() -> None:
    result = load(step(400, p99=90.0, worker_ms=1.4, broker_ms=None))

    check = worker_cpu({"kafka-1": result}, judged="kafka", others=[])

    assert "broker not measured" in check.measured
    assert "0.00" not in check.measured


def memory(kib: float | None, *, settled: bool = True) -> Memory:
    return Memory(
        runtime="kafka-1",
        in_flight=(50, 150),
        rss_mib=(100.0, 101.0, 101.0 + (kib or 0.0) * 100 / 1024),
        kib_per_request=kib,
        resolution_kib=256.0,
        settled=settled,
    )


def test_memory_is_judged_only_when_resolved_and_settled() -> None:
    assert memory_figure(memory(29.0)).passed is True
    assert memory_figure(memory(31.0)).passed is False
    assert memory_figure(memory(29.0, settled=False)).passed is None
    unresolved = memory_figure(memory(None))
    assert unresolved.passed is None
    assert "not resolved" in unresolved.text
    assert "0.0 KiB" not in unresolved.text


def test_every_target_of_issue_16_is_listed_once_with_nothing_measured() -> None:
    checks = check_targets(single={}, sweep=None, load={}, memory=[], hops={}, brokers=["kafka", "tansu"])

    assert len(checks) == 13
    assert all(isinstance(c, TargetCheck) and c.passed is None for c in checks)


def test_targets_are_judged_on_kafka_when_measured_else_on_the_broker_measured() -> None:
    assert judged_broker(["tansu", "kafka"]) == "kafka"
    assert judged_broker(["tansu"]) == "tansu"
    assert judged_broker([]) is None


@pytest.mark.parametrize(
    ("text", "quick", "kafka_installed", "expected"),
    [
        ("kafka,tansu", False, True, ("kafka", "tansu")),
        ("tansu, kafka", True, True, ("tansu", "kafka")),
        ("auto", False, True, ("kafka",)),
        ("auto", False, False, ("tansu",)),
        ("all", True, True, ("kafka", "tansu")),
        ("all", False, False, ("tansu",)),
        ("auto,kafka", False, True, ("kafka",)),
        (None, False, True, ("kafka", "tansu")),  # a full run: both where Kafka is installed
        (None, True, True, ("kafka",)),  # --quick: auto
        (None, False, False, ("tansu",)),
    ],
)
def test_broker_option_names_the_local_brokers_measured_in_turn(
    text: str | None, quick: bool, kafka_installed: bool, expected: tuple[str, ...]
) -> None:
    kinds = parse_brokers(text, quick=quick, kafka_installed=kafka_installed)

    assert tuple(kind.value for kind in kinds) == expected


def test_an_unknown_broker_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown broker 'redpanda': choose from kafka, tansu, auto, all"):
        parse_brokers("kafka,redpanda", quick=False, kafka_installed=True)


def test_runtimes_are_named_after_their_broker_and_bootstrap_is_one_cluster() -> None:
    local = BenchOptions(brokers=(BrokerKind.KAFKA, BrokerKind.TANSU))
    cluster = BenchOptions(bootstrap="kafka.example:9092", brokers=(BrokerKind.TANSU,))

    assert [(b.runtime(1), b.runtime(2), b.owned) for b in local.measured_brokers] == [
        ("kafka-1", "kafka-2", True),
        ("tansu-1", "tansu-2", True),
    ]
    assert [(b.runtime(1), b.owned, b.where) for b in cluster.measured_brokers] == [
        ("kafka-1", False, "kafka.example:9092")
    ]
    assert [b.label for b in BenchOptions(brokers=(BrokerKind.KAFKA,)).measured_brokers] == ["kafka"]
