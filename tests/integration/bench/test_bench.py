"""The bench machinery end to end at tiny sizes: every runtime measured, outputs written, nothing left running.

Timings are not asserted: they depend on the machine. What is asserted is that
each runtime answered every request complete, that the report and its files
are whole, and that no child process (upstreams, broker, workers) survives the
run, whether it ends normally or is cancelled (what Ctrl-C does).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from devkit.bench import BenchOptions, BenchReport, Sizes, run_bench, write_outputs
from devkit.bench.command import app as bench_app
from devkit.brokers.apache_kafka import kafka_available
from streams.cli.main import app
from streams.cli.shared_options import BrokerKind
from tests.support.waiting import until

pytestmark = pytest.mark.integration

BROKERS = (BrokerKind.KAFKA, BrokerKind.TANSU) if kafka_available() else (BrokerKind.TANSU,)
"""Both brokers in one run where Apache Kafka is installed (as conftest picks the session's broker)."""
LABELS = [kind.value for kind in BROKERS]

TINY = Sizes(
    single_requests=3,
    warmup_requests=1,
    widths=(1, 4),
    depths=(1, 2),
    sweep_requests=2,
    sweep_burst=40,  # enough CPU per graph to stand above the workers' idle polling
    sweep_window=8,
    load_rates=(10, 20),
    load_step_s=0.5,
    memory_in_flight=(2, 4),
    hop_waits_ms=(5, 10),
    hop_messages=3,
    hold_ms=1_500.0,
    kafka_workers=(1,),
    min_warmup_s=0.0,
    fresh_deployments=False,
    hedge_requests=4,
    repeat_requests=40,
    repeat_keys=5,
    repeat_window=8,
)


def children() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


@pytest.fixture
def new_children() -> Callable[[], list[psutil.Process]]:
    """Child processes started since the test began: the session's own broker (a child of pytest
    when an earlier test asked for it) is not the bench's."""
    before = set(children())
    return lambda: [child for child in children() if child not in before]


@pytest.mark.timeout(240)
async def test_bench_measures_every_runtime_on_each_broker_and_writes_report_and_plot(
    tmp_path: Path, new_children: Callable[[], list[psutil.Process]]
) -> None:
    report = await run_bench(BenchOptions(custom_sizes=TINY, out=tmp_path, progress=False, brokers=BROKERS))
    kafka_runtimes = {f"{label}-1" for label in LABELS}
    written = write_outputs(report, tmp_path)

    assert new_children() == []
    assert [p.name for p in written] == ["bench.json", "latency-vs-load.png"]
    assert BenchReport.model_validate(json.loads(written[0].read_text())) == report
    assert written[1].read_bytes().startswith(b"\x89PNG")
    by_workload = {s.workload: s for s in report.single}
    assert set(by_workload) == {"customer360", "customer360-null"}
    for single in by_workload.values():
        assert single.levels == 3
        assert single.tasks == 6
        assert single.critical_path_ms == 35.0
        assert {r.runtime for r in single.runtimes} == {"floor", "inprocess", *kafka_runtimes}
        assert all(r.e2e.n == TINY.single_requests and r.not_complete == 0 for r in single.runtimes)
        assert single.inprocess_over_floor is not None
        assert set(single.kafka_over_inprocess_per_level) == kafka_runtimes
        assert set(single.kafka_over_floor) == kafka_runtimes
    assert report.sweep is not None
    assert [(p.shape, p.size, p.nodes, p.levels) for p in report.sweep.points] == [
        ("width", 1, 1, 1),
        ("width", 4, 4, 1),
        ("depth", 1, 1, 1),
        ("depth", 2, 2, 2),
    ]
    assert all(set(p.kafka) == kafka_runtimes for p in report.sweep.points)
    assert all(k.cpu_ms_per_request is not None for p in report.sweep.points for k in p.kafka.values())
    assert set(report.sweep.kafka_ms_per_level) == kafka_runtimes
    assert set(report.load) == {"inprocess", *kafka_runtimes}
    for name, result in report.load.items():
        assert result.threshold_ms == 100.0
        assert all(step.sent == round(step.offered_rps * TINY.load_step_s) for step in result.steps)
        measured = (
            {"runtime", "machine"}
            if name == "inprocess"
            else {"runtime", "broker", "bench client", "machine"}
        )
        assert all(set(step.cpu_ms_per_request) == measured for step in result.steps)
    assert [m.runtime for m in report.memory] == ["inprocess", *(f"{label}-1" for label in LABELS)]
    assert [s.runtime for s in report.startup] == [f"{label}-1" for label in LABELS]
    assert all(s.seconds > 0 for s in report.startup)
    assert list(report.hops) == LABELS
    for probe in report.hops.values():  # the probe's waits, and the runtimes' own for the level floor
        assert probe.fetch_max_wait_ms == sorted({5, 10, probe.runtime_fetch_max_wait_ms})
        assert probe.level_floor_ms() > 0
    if "tansu" in report.hops:
        assert report.hops["tansu"].runtime_fetch_max_wait_ms == 5
    assert "two hops of a bare client" in report.targets[0].measured
    assert "8 hops of a bare client" in report.targets[4].measured  # customer360: 3 levels, in and out
    assert report.machine.brokers == [f"{label} (local)" for label in LABELS]
    assert report.judged_broker == LABELS[0]
    phases = [phase.name for phase in report.phases]
    for label in LABELS:  # memory first on a deployment: what the sweeps free, a worker reuses unseen by RSS
        assert phases.index(f"{label}-1: memory per request in flight") < phases.index(f"{label}-1: width-1")
    assert len(report.targets) == 13
    assert all(set(t.beside) <= set(LABELS[1:]) for t in report.targets)
    assert report.machine.cores >= 1
    assert report.adaptive is not None
    assert report.adaptive.hedging.requests == TINY.hedge_requests
    assert report.adaptive.hedging.upstream_calls_without > 0
    repeats = report.adaptive.repeats
    assert [a.name for a in repeats.arms] == [
        "every request calls",
        "coalescing",
        "coalescing + memory cache",
    ]
    assert repeats.arms[0].upstream_calls == TINY.repeat_requests
    assert repeats.arms[2].upstream_calls <= TINY.repeat_keys + repeats.window


async def test_full_run_layout_measures_kafka_on_a_fresh_deployment_per_group(
    tmp_path: Path, new_children: Callable[[], list[psutil.Process]]
) -> None:
    # A full run starts a broker and workers per group of measurements (latency, memory, each
    # sweep point, load); each is warmed up and torn down before the next. On Tansu (the default
    # when BenchOptions names no broker), its runtime named after it.
    sizes = dataclasses.replace(TINY, widths=(1,), depths=(2,), fresh_deployments=True)
    options = BenchOptions(custom_sizes=sizes, out=tmp_path, progress=False, only=frozenset({"kafka"}))
    report = await run_bench(options)

    assert {r.runtime for s in report.single for r in s.runtimes} == {"tansu-1"}
    assert all(r.not_complete == 0 for s in report.single for r in s.runtimes)
    assert report.sweep is not None
    assert [(p.shape, p.size, set(p.kafka)) for p in report.sweep.points] == [
        ("width", 1, {"tansu-1"}),
        ("depth", 2, {"tansu-1"}),
    ]
    assert [m.runtime for m in report.memory] == ["tansu-1"]
    assert [s.runtime for s in report.startup] == ["tansu-1"]
    assert set(report.load) == {"tansu-1"}
    assert report.judged_broker == "tansu"
    assert report.adaptive is None
    assert new_children() == []


async def test_bench_of_only_the_floor_and_in_process_starts_no_broker(
    tmp_path: Path, new_children: Callable[[], list[psutil.Process]]
) -> None:
    options = BenchOptions(
        custom_sizes=TINY, out=tmp_path, progress=False, only=frozenset({"floor", "inprocess"})
    )
    report = await run_bench(options)

    assert {r.runtime for s in report.single for r in s.runtimes} == {"floor", "inprocess"}
    assert report.startup == []
    assert report.hops == {}
    assert report.judged_broker is None
    assert set(report.load) == {"inprocess"}
    assert report.adaptive is not None
    assert new_children() == []


async def test_cancelled_bench_leaves_no_process_running(
    tmp_path: Path, new_children: Callable[[], list[psutil.Process]]
) -> None:
    run = asyncio.ensure_future(run_bench(BenchOptions(custom_sizes=TINY, out=tmp_path, progress=False)))

    def worker_running() -> bool:
        return any("worker" in " ".join(child.cmdline()) for child in new_children())

    try:
        # Another process's state: there is no event to await, so poll it.
        await until(worker_running, timeout_s=90, what="a worker process is started", interval_s=0.1)
    finally:
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    assert new_children() == []


def test_bench_refuses_an_unknown_runtime() -> None:
    result = CliRunner().invoke(app, ["bench", "--only", "floor,gpu"])

    assert result.exit_code == 1
    assert "unknown runtime 'gpu'" in result.output


def test_bench_command_refuses_an_unknown_broker_and_a_broker_beside_bootstrap() -> None:
    unknown = CliRunner().invoke(bench_app, ["--broker", "kafka,redpanda"])
    both = CliRunner().invoke(bench_app, ["--broker", "tansu", "--bootstrap", "127.0.0.1:9092"])

    assert unknown.exit_code == 1
    assert "unknown broker 'redpanda'" in unknown.output
    assert both.exit_code == 1
    assert "--broker and --bootstrap exclude each other" in both.output
