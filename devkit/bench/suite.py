"""One bench run: upstreams up, every runtime measured on the same request sequence, all torn down.

Order: floor and in-process first (no worker exists yet), then the adaptive
decisions in process, then, broker by broker (Apache Kafka, Tansu, or the
``--bootstrap`` cluster), each Kafka runtime on deployments of its own. Whatever happens (an error, Ctrl-C), every child
process is stopped before :func:`run_bench` returns or raises.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import yaml

from devkit.bench.adaptive_effects import planned_steps as adaptive_steps
from devkit.bench.adaptive_effects import run_adaptive
from devkit.bench.context import BenchContext, Collected
from devkit.bench.errors import BenchError
from devkit.bench.local import planned_steps as local_steps
from devkit.bench.local import run_local
from devkit.bench.options import BenchOptions
from devkit.bench.progress import BenchProgress
from devkit.bench.report import assemble, machine
from devkit.bench.results import BenchReport, Phase
from devkit.bench.streaming import planned_steps as kafka_steps
from devkit.bench.streaming import run_kafka
from devkit.bench.workloads import (
    CUSTOMER360_HOLD,
    CUSTOMER360_NULL,
    UPSTREAM_LATENCY_MS,
    Workload,
    customer360,
    customer360_held,
    customer360_on_null,
    depth_graph,
    graph_facts,
    low_credit_customers,
    width_graph,
)
from devkit.deployment.upstreams import DemoUpstreams

REPORT_FILE = "bench.json"
PLOT_FILE = "latency-vs-load.png"
_DISTINCT_KEYS = 500


def default_pipeline_file() -> Path:
    """The checkout's configs/customer360.yaml, else ./configs/customer360.yaml."""
    beside_package = Path(__file__).resolve().parents[2] / "configs" / "customer360.yaml"
    return beside_package if beside_package.exists() else Path("configs") / "customer360.yaml"


def _workloads(options: BenchOptions) -> tuple[dict[str, Workload], list[tuple[str, int, Workload]]]:
    path = options.pipeline_file or default_pipeline_file()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BenchError(f"cannot read {path} ({exc.strerror}); pass the customer360 pipeline file") from None
    sizes = options.sizes
    sweep = [("width", w, width_graph(w)) for w in sizes.widths]
    sweep += [("depth", d, depth_graph(d)) for d in sizes.depths]
    workloads = [
        customer360(document),
        customer360_on_null(document, name=CUSTOMER360_NULL),
        customer360_held(document, name=CUSTOMER360_HOLD, hold_ms=sizes.hold_ms),
        *(w for _, _, w in sweep),
    ]
    return {w.name: w for w in workloads}, sweep


async def run_bench(options: BenchOptions) -> BenchReport:
    """Measure every runtime of ``options.only`` and return the figures (:func:`write_outputs` saves them)."""
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()[0]
    workloads, sweep = _workloads(options)
    collected = Collected()
    with (
        tempfile.TemporaryDirectory(prefix="graphfetch-bench-") as tmp,
        BenchProgress(enabled=options.progress) as progress,
    ):
        workdir = Path(tmp)
        progress.phase("starting the demo upstreams")
        async with DemoUpstreams.child(workdir, latency_ms=UPSTREAM_LATENCY_MS) as upstreams:
            ctx = BenchContext(
                options=options,
                run_id=uuid.uuid4().hex[:8],
                workdir=workdir,
                upstreams=upstreams,
                workloads=workloads,
                sweep=sweep,
                facts={},
                keys=low_credit_customers(_DISTINCT_KEYS),
                progress=progress,
            )
            _, pipelines = ctx.pipelines_for("facts", output_topic="bench.facts")
            ctx.facts = {name: graph_facts(pipelines[name], w) for name, w in workloads.items()}
            brokers = options.measured_brokers if options.wants("kafka") else ()
            kafka_runs = [
                (broker, workers, i == 0)
                for broker in brokers
                for i, workers in enumerate(options.sizes.kafka_workers)
            ]
            progress.expect(
                local_steps(ctx)
                + adaptive_steps(ctx)
                + sum(kafka_steps(ctx, first=first) for _, _, first in kafka_runs)
            )
            await run_local(ctx, collected)
            await run_adaptive(ctx, collected)
            for broker, workers, first in kafka_runs:
                await run_kafka(ctx, collected, broker=broker, workers=workers, first=first)
            progress.phase("stopping the demo upstreams")
    phases = [
        Phase(
            name=name,
            seconds=round(t.seconds, 2),
            other_cores=round(t.other_cpu_seconds / max(t.seconds, 1e-9), 2),
        )
        for name, t in progress.phases.items()
    ]
    wall = sum(t.seconds for t in progress.phases.values())
    other_cores = sum(t.other_cpu_seconds for t in progress.phases.values()) / max(wall, 1e-9)
    if other_cores > 0.25:
        ctx.notes.append(
            f"the machine was shared: load average {load_before:.1f} at the start, other processes used "
            f"{other_cores:.2f} cores on average during the run; figures taken under contention"
        )
    return assemble(
        ctx,
        collected,
        machine_facts=machine(
            brokers=[f"{b.label} (local)" if b.owned else f"{b.label} at {b.where}" for b in brokers],
            load_before=load_before,
            other_cores=other_cores,
        ),
        command=options.command,
        started_at=started_at,
        duration_s=time.monotonic() - started,
        phases=phases,
    )


def write_outputs(report: BenchReport, out: Path) -> list[Path]:
    """``bench.json`` and, with matplotlib installed and load measured, the latency-vs-load PNG."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / REPORT_FILE]
    written[0].write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    if report.load and importlib.util.find_spec("matplotlib") is not None:
        from devkit.bench.plot import plot_load

        path = out / PLOT_FILE
        plot_load(report.load, path)
        written.append(path)
    return written
