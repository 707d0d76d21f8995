"""The report as tables on a terminal (rich)."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from devkit.bench.checks import BROKER_CPU, CLIENT_CPU, ISSUE, memory_figure
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
    for column in (
        "workload",
        "in-process - floor",
        "runtime",
        "kafka - floor",
        "kafka - in-process",
        "per level",
    ):
        table.add_column(column)
    for single in report.single:
        kafka: list[tuple[str, Overhead | None]] = [*single.kafka_over_inprocess.items()] or [("-", None)]
        for i, (runtime, overhead) in enumerate(kafka):
            table.add_row(
                single.workload if i == 0 else "",
                _overhead(single.inprocess_over_floor) if i == 0 else "",
                runtime,
                _overhead(single.kafka_over_floor.get(runtime)),
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
    kafka = sorted({runtime for p in sweep.points for runtime in p.kafka})
    columns = ["graph", "nodes", "floor", "in-process", "in-process CPU ms"]
    for runtime in kafka:
        columns += [runtime, f"{runtime} CPU ms (raw)", f"{runtime} CPU us/node", f"{runtime} broker CPU ms"]
    for column in columns:
        table.add_column(column, justify="left" if column == "graph" else "right")
    for p in sweep.points:
        cells = [
            f"{p.shape}-{p.size}",
            str(p.nodes),
            _f(p.floor.p50 if p.floor else None),
            _f(p.inprocess.p50 if p.inprocess else None),
            _f(p.inprocess_cpu_ms_per_request, 2),
        ]
        for runtime in kafka:
            figures = p.kafka.get(runtime)
            if figures is None:
                cells += ["-"] * 4
                continue
            cpu = figures.cpu_ms_per_request
            cells += [
                _f(figures.latency.p50),
                f"{_f(cpu, 2)} ({_f(figures.raw_cpu_ms_per_request, 2)})",
                _f(cpu * 1000 / p.nodes if cpu is not None else None, 0),
                _f(figures.broker_cpu_ms_per_request, 2),
            ]
        table.add_row(*cells)
    slopes = "; ".join(f"{runtime} {_overhead(o)}" for runtime, o in sweep.kafka_ms_per_level.items())
    table.caption = (
        f"per level (depth slope): kafka - in-process p50/p95/p99 {slopes or '-'} ms; "
        f"in-process - floor p50 {_f(sweep.inprocess_ms_per_level, 2)} ms. "
        "CPU: less the idle rate (raw: with it); '-': not measured, or below the idle rate"
    )
    table.caption_justify = "left"
    return table


def _load(report: BenchReport) -> Table | None:
    if not report.load:
        return None
    table = Table(title="Open-loop load, customer360 on the null connector (ms)", title_justify="left")
    columns = ["runtime", "offered/s", "answered/s", "tasks/s", "p50", "p95", "p99", "lost or partial"]
    columns += ["CPU cores: runtime / broker / client / machine", "CPU ms/req: runtime / broker / client"]
    columns += ["holds", "sustained"]
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
                    _f(step.cpu_cores.get(k), 2) for k in (RUNTIME, BROKER_CPU, CLIENT_CPU, "machine")
                ),
                " / ".join(_f(step.cpu_ms_per_request.get(k), 2) for k in (RUNTIME, BROKER_CPU, CLIENT_CPU)),
                "yes" if step.holds else "no",
                "yes" if step.sustained else "no",
            )
        table.add_section()
        held, kept = result.max_rate_holding, result.max_rate_sustained
        captions.append(
            f"{runtime}: holds (p99 <= {result.threshold_ms:g} ms) up to {_rate(held)}, "
            f"sustained (p99 <= {result.ceiling_ms:g} ms) up to {_rate(kept)}"
        )
    captions.append(
        "runtime: the workers (in-process: the bench's own process, which is also the client); "
        "'-': not measured (in-process has no broker; a --bootstrap cluster's broker is not ours to read)"
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
        figure = memory_figure(memory).text.partition(": ")[2]
        rss = f"RSS {memory.rss_mib[1]:.1f} -> {memory.rss_mib[2]:.1f} MiB"
        table.add_row(f"memory per request in flight, {memory.runtime}", f"{figure}; {rss}")
    for startup in report.startup:
        table.add_row(f"start-up, {startup.runtime}", f"{startup.seconds:.2f} s (spawn -> first profile)")
    for broker, hops in report.hops.items():
        pairs = ", ".join(
            f"{w} ms{' (the runtimes)' if w == hops.runtime_fetch_max_wait_ms else ''}: "
            f"p50 {p50:.1f} / p99 {p99:.1f} (ack {ack:.1f})"
            for w, p50, p99, ack in zip(
                hops.fetch_max_wait_ms, hops.p50_ms, hops.p99_ms, hops.ack_p50_ms, strict=True
            )
        )
        table.add_row(f"one hop on {broker} by fetch_max_wait_ms (produce ack p50)", pairs)
    for what, cores in report.idle_cores.items():
        table.add_row(f"idle CPU, {what}", f"{cores:.2f} cores (no traffic: consumers polling, heartbeats)")
    return table


def _targets(report: BenchReport) -> Table:
    table = Table(title=f"Targets (issue {ISSUE})", title_justify="left")
    others = sorted({broker for check in report.targets for broker in check.beside})
    table.add_column("target")
    table.add_column("measured")
    table.add_column("")
    for broker in others:
        table.add_column(f"on {broker} (not judged)")
    marks = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "-"}
    for check in report.targets:
        beside = [check.beside.get(broker, "") for broker in others]
        table.add_row(check.target, check.measured, marks[check.passed], *beside)
    judged = report.judged_broker
    table.caption = (
        f"Kafka targets judged on {judged} ({_broker_name(judged)})"
        if judged
        else "no Kafka runtime measured"
    ) + "; '-': not measured or not judged; a miss does not change the exit code"
    table.caption_justify = "left"
    return table


def _broker_name(label: str) -> str:
    return {"kafka": "Apache Kafka", "tansu": "Tansu"}.get(label, label)


def report_console() -> Console:
    """stdout, as wide as the terminal, or 160 columns when it is not one (CI logs, files)."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def print_report(report: BenchReport, console: Console) -> None:
    m = report.machine
    console.print(
        f"graphfetch bench{' --quick' if report.quick else ''}: {m.cores} x {m.cpu}, {m.memory_gib:g} GiB, "
        f"Python {m.python}, brokers {', '.join(m.brokers) or 'none'}, workers on {m.worker_event_loop}; load average {m.load_average_before:.2f} before, "
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
