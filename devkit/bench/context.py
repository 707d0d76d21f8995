"""What the phases of a run share: its options, workloads and upstreams, and what they measured."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from devkit.bench.load import LoadResult
from devkit.bench.measure import Samples
from devkit.bench.options import BenchOptions, Sizes
from devkit.bench.progress import BenchProgress
from devkit.bench.results import AdaptiveFigures, HopProbe, Memory, Startup
from devkit.bench.stats import Summary
from devkit.bench.workloads import (
    CUSTOMER360,
    CUSTOMER360_NULL,
    GraphFacts,
    Workload,
    load_workload_pipelines,
    write_configs,
)
from devkit.deployment.upstreams import DemoUpstreams
from planner import Pipeline


@dataclass(kw_only=True)
class BenchContext:
    options: BenchOptions
    run_id: str
    workdir: Path
    upstreams: DemoUpstreams
    workloads: dict[str, Workload]
    sweep: list[tuple[str, int, Workload]]
    """(shape, size, workload) of the generated graphs, in the order measured."""
    facts: dict[str, GraphFacts]
    keys: list[str]
    """Key values of the request sequence, the same for every runtime."""
    progress: BenchProgress
    notes: list[str] = field(default_factory=list)

    @property
    def sizes(self) -> Sizes:
        return self.options.sizes

    @property
    def customer360(self) -> Workload:
        return self.workloads[CUSTOMER360]

    @property
    def customer360_null(self) -> Workload:
        return self.workloads[CUSTOMER360_NULL]

    def pipelines_for(self, runtime: str, *, output_topic: str) -> tuple[Path, dict[str, Pipeline]]:
        """Write every workload's config for ``runtime`` and load it as that runtime will."""
        folder = self.workdir / f"configs-{runtime}"
        write_configs(folder, list(self.workloads.values()), output_topic=output_topic)
        env = {**os.environ, **self.upstreams.env()}
        return folder, load_workload_pipelines(folder, env=env)


@dataclass(kw_only=True)
class SweepFigures:
    latency: Summary
    cpu_ms_per_request: float | None = None
    raw_cpu_ms_per_request: float | None = None
    broker_cpu_ms_per_request: float | None = None


@dataclass(kw_only=True)
class Collected:
    """Raw figures, by workload or graph and by runtime; :mod:`devkit.bench.report` derives the rest."""

    single: dict[str, dict[str, Samples]] = field(default_factory=dict)
    sweep: dict[str, dict[str, SweepFigures]] = field(default_factory=dict)
    load: dict[str, LoadResult] = field(default_factory=dict)
    memory: list[Memory] = field(default_factory=list)
    startup: list[Startup] = field(default_factory=list)
    hops: dict[str, HopProbe] = field(default_factory=dict)
    """Per broker label."""
    idle_cores: dict[str, float] = field(default_factory=dict)
    adaptive: AdaptiveFigures | None = None

    def add_single(self, workload: str, runtime: str, samples: Samples) -> None:
        self.single.setdefault(workload, {})[runtime] = samples

    def add_sweep(self, workload: str, runtime: str, figures: SweepFigures) -> None:
        self.sweep.setdefault(workload, {})[runtime] = figures
