"""The report as tables on a terminal (rich)."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from devkit.bench.load import RUNTIME
from devkit.bench.results import BenchReport
from devkit.bench.stats import Overhead, Summary


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _percentiles(summary: Summary | None) -> list[str]:
    if summary is None:
        return ["-", "-", "-"]
    return [_f(summary.p50), _f(summary.p95), _f(summary.p99)]


def _overhead(overhead: Overhead | None) -> str:
    if overhead is None:
        return "-"
    return f"{_f(overhead.p50)} / {_f(overhead.p95)} / {_f(overhead.p99)}"


def _single(report: BenchReport) -> Table:
    table = Table(title="Single-request latency, one request at a time (ms)", title_justify="left")
    for column in ("workload", "runtime", "p50", "p95", "p99", "profile p50", "profile p99", "not complete"):
        table.add_column(column, justify="left" if column in ("workload", "runtime") else "right")
    for single in report.single:
        label = f"{single.workload}\n{single.levels} levels, {single.tasks} tasks, critical path {single.critical_path_ms:g} ms"
        for i, row in enumerate(single.runtimes):
            profile = row.profile
            table.add_row(
                label if i == 0 else "",
                row.runtime,
                *_percentiles(row.e2e),
                _f(profile.p50) if profile else "-",
                _f(profile.p99) if profile else "-",
                str(row.not_complete),
            )
        table.add_section()
    return table


def _overheads(report: BenchReport) -> Table:
    table = Table(title="Overheads, p50 / p95 / p99 (ms)", title_justify="left")
    for column in ("workload", "in-process - floor", "runtime", "kafka - in-process", "per level"):
        table.add_column(column)
    for single in report.single:
        kafka: list[tuple[str, Overhead | None]] = [*single.kafka_over_inprocess.items()] or [("-", None)]
        for i, (runtime, overhead) in enumerate(kafka):
            table.add_row(
                single.workload if i == 0 else "",
                _overhead(single.inprocess_over_floor) if i == 0 else "",
                runtime,
                _overhead(overhead),
                _overhead(single.kafka_over_inprocess_per_level.get(runtime)),
            )
    return table


def _sweep(report: BenchReport) -> Table | None:
    sweep = report.sweep
    if sweep is None:
        return None
    title = (
        "Graph size (null connector): p50 latency one at a time (ms), CPU per request with a window in flight"
    )
    table = Table(title=title, title_justify="left")
    columns = (
        "graph",
        "nodes",
        "floor",
        "in-process",
        "kafka-1",
        "in-process CPU ms",
        "kafka CPU ms (raw)",
        "kafka CPU us/node",
        "broker CPU ms",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "graph" else "right")
    for p in sweep.points:
        kafka_cpu = p.kafka_cpu_ms_per_request
        table.add_row(
            f"{p.shape}-{p.size}",
            str(p.nodes),
            _f(p.floor.p50 if p.floor else None),
            _f(p.inprocess.p50 if p.inprocess else None),
            _f(p.kafka.p50 if p.kafka else None),
            _f(p.inprocess_cpu_ms_per_request, 2),
            f"{_f(kafka_cpu, 2)} ({_f(p.kafka_raw_cpu_ms_per_request, 2)})",
            _f(kafka_cpu * 1000 / p.nodes if kafka_cpu is not None else None, 0),
            _f(p.broker_cpu_ms_per_request, 2),
        )
    table.caption = (
        f"per level (depth slope): kafka - in-process p50/p95/p99 {_overhead(sweep.kafka_ms_per_level)} ms; "
        f"in-process - floor p50 {_f(sweep.inprocess_ms_per_level, 2)} ms"
    )
    return table


def _load(report: BenchReport) -> Table | None:
    if not report.load:
        return None
    table = Table(title="Open-loop load, customer360 on the null connector (ms)", title_justify="left")
    columns = ["runtime", "offered/s", "answered/s", "tasks/s", "p50", "p95", "p99", "lost or partial"]
    columns += ["CPU cores: runtime / broker / client / machine", "CPU ms/req", "holds", "sustained"]
    for column in columns:
        table.add_column(column, justify="left" if column == "runtime" else "right")
    captions = []
    for runtime, result in report.load.items():
        for i, step in enumerate(result.steps):
            table.add_row(
                runtime if i == 0 else "",
                f"{step.offered_rps:g}",
                _f(step.achieved_rps, 0),
                _f(step.achieved_rps * result.tasks_per_request, 0),
                *_percentiles(step.e2e),
                str(step.lost + step.not_complete),
                " / ".join(
                    _f(step.cpu_cores.get(k), 2) for k in (RUNTIME, "broker", "bench client", "machine")
                ),
                _f(step.cpu_ms_per_request, 2),
                "yes" if step.holds else "no",
                "yes" if step.sustained else "no",
            )
        table.add_section()
        held, kept = result.max_rate_holding, result.max_rate_sustained
        captions.append(
            f"{runtime}: holds (p99 <= {result.threshold_ms:g} ms) up to {_rate(held)}, "
            f"sustained (p99 <= {result.ceiling_ms:g} ms) up to {_rate(kept)}"
        )
    table.caption = "\n".join(captions)
    table.caption_justify = "left"
    return table


def _adaptive(report: BenchReport) -> list[Table]:
    figures = report.adaptive
    if figures is None:
        return []
    h = figures.hedging
    hedging = Table(title=f"Hedging, customer360 one request at a time, {h.tail} (ms)", title_justify="left")
    for column in ("arm", "p50", "p95", "p99", "max", "upstream calls", "extra calls"):
        hedging.add_column(column, justify="left" if column == "arm" else "right")
    hedging.add_row(
        "no hedging", *_percentiles(h.without), _f(h.without.max), str(h.upstream_calls_without), ""
    )
    hedging.add_row(
        f"hedged after p{h.hedge_quantile * 100:g}",
        *_percentiles(h.hedged),
        _f(h.hedged.max),
        str(h.upstream_calls_hedged),
        f"{h.extra_calls_pct:+.1f} %",
    )
    hedging.caption = (
        f"{h.requests} requests per arm; budget {h.hedge_budget:.0%} of calls; {h.hedged_fetches} fetches "
        f"hedged; {h.not_complete} requests not complete"
    )
    hedging.caption_justify = "left"
    r = figures.repeats
    repeats = Table(
        title=f"Repeated keys: {r.requests} requests over {r.keys} keys ({r.distribution}), "
        f"{r.window} in flight, one node on crm",
        title_justify="left",
    )
    for column in ("arm", "upstream calls", "calls saved", "p50 ms", "p99 ms"):
        repeats.add_column(column, justify="left" if column == "arm" else "right")
    for arm in r.arms:
        repeats.add_row(
            arm.name,
            str(arm.upstream_calls),
            f"{arm.saved_pct:.1f} %",
            _f(arm.latency.p50),
            _f(arm.latency.p99),
        )
    return [hedging, repeats]


def _rate(rate: float | None) -> str:
    return "none" if rate is None else f"{rate:g}/s"


def _other(report: BenchReport) -> Table:
    table = Table(title="Memory, start-up, broker hop", title_justify="left")
    table.add_column("figure")
    table.add_column("value")
    for memory in report.memory:
        settled = "" if memory.settled else " (read before the process settled)"
        table.add_row(
            f"memory per request in flight, {memory.runtime}",
            f"{memory.kib_per_request:.1f} KiB (RSS {memory.rss_mib[1]:.0f} -> {memory.rss_mib[2]:.0f} MiB "
            f"from {memory.in_flight[0]} to {memory.in_flight[1]} in flight){settled}",
        )
    for startup in report.startup:
        table.add_row(f"start-up, {startup.runtime}", f"{startup.seconds:.2f} s (spawn -> first profile)")
    if report.hops is not None:
        hops = report.hops
        pairs = ", ".join(
            f"{w} ms: p50 {p50:.1f} / p99 {p99:.1f} (ack {ack:.1f})"
            for w, p50, p99, ack in zip(
                hops.fetch_max_wait_ms, hops.p50_ms, hops.p99_ms, hops.ack_p50_ms, strict=True
            )
        )
        table.add_row("one hop by fetch_max_wait_ms (produce ack p50)", pairs)
    for what, cores in report.idle_cores.items():
        table.add_row(f"idle CPU, {what}", f"{cores:.2f} cores (no traffic: consumers polling, heartbeats)")
    return table


def _targets(report: BenchReport) -> Table:
    table = Table(title="Targets (issue 7)", title_justify="left")
    table.add_column("target")
    table.add_column("measured")
    table.add_column("")
    marks = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "-"}
    for check in report.targets:
        table.add_row(check.target, check.measured, marks[check.passed])
    return table


def report_console() -> Console:
    """stdout, as wide as the terminal, or 160 columns when it is not one (CI logs, files)."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def print_report(report: BenchReport, console: Console) -> None:
    m = report.machine
    console.print(
        f"graphfetch bench{' --quick' if report.quick else ''}: {m.cores} x {m.cpu}, {m.memory_gib:g} GiB, "
        f"Python {m.python}, broker {m.broker}, workers on {m.worker_event_loop}; load average {m.load_average_before:.2f} before, "
        f"{m.load_average_after:.2f} after; other processes used {m.other_cores:.2f} cores on average; "
        f"{report.duration_s:.0f} s"
    )
    tables = [
        _single(report),
        _overheads(report),
        _sweep(report),
        _load(report),
        *_adaptive(report),
        _other(report),
        _targets(report),
    ]
    for table in tables:
        if table is not None:
            console.print(table)
    phases = ", ".join(f"{p.name} {p.seconds:.1f} s ({p.other_cores:.2f})" for p in report.phases)
    console.print(f"phases (cores used by other processes meanwhile): {phases}", style="dim")
    for note in report.notes:
        console.print(f"note: {note}")
