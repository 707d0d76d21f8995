"""The chaos table on a terminal (rich), one row per run; a summary line per scenario; the legend."""

from __future__ import annotations

from rich.table import Table

from devkit.chaos.figures import ScenarioFigures, ScenarioSummary
from devkit.chaos.guarantees import Guarantee
from devkit.chaos.runner import ChaosReport

_STATUSES = ("complete", "partial", "failed")


def _f(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _split(statuses: dict[str, int]) -> str:
    """``complete/partial/failed`` counts."""
    return "/".join(str(statuses.get(s, 0)) for s in _STATUSES)


def _row(row: ScenarioFigures, *, runs: bool) -> list[str]:
    return [
        row.scenario,
        *([str(row.run)] if runs else []),
        f"{row.fault_s:g}",
        str(row.sent),
        str(row.received),
        str(row.lost),
        str(row.duplicated),
        str(row.in_flight_at_fault),
        _split(row.statuses),
        _split(row.statuses_during),
        _split(row.statuses_after),
        f"{_f(row.baseline_p99_ms)}/{_f(row.fault_p99_ms)}/{_f(row.after_p99_ms)}",
        _f(row.recovery_s, 1) if row.recovery_s is not None else "not recovered",
        _f(row.served_again_s, 1),
        f"{_f(row.calls_per_request_baseline, 2)}->{_f(row.calls_per_request_from_fault, 2)}",
        f"{_f(row.worker_rss_baseline_mb)}->{_f(row.worker_rss_peak_mb)}",
    ]


def chaos_table(report: ChaosReport) -> Table:
    broker = f" on {report.broker}" if report.broker is not None else ""
    table = Table(
        title=f"graphfetch under faults: customer360 at {report.rate:g} req/s, {report.guarantee}{broker} "
        f"(durations x{report.scale:g})",
        title_justify="left",
        caption="statuses: complete/partial/failed first profiles, for all requests, those sent during the fault, "
        "those sent after it; p99: client latency of requests sent before / during / after the fault; "
        "recovery: fault end until clients were served complete at normal latency again; "
        "served again: fault start until the first second served so (after a SIGKILL: the dead worker's "
        "partitions served again); calls/req: HTTP upstream calls per request sent before the fault -> "
        "from its start on (replays included); "
        "RSS: summed worker memory, peak before the fault -> peak over the run",
        caption_justify="left",
    )
    runs = report.repeat > 1
    columns = [
        *("scenario", *(["run"] if runs else []), "fault s", "sent", "received", "lost", "dup", "in flight"),
        *("statuses", "during", "after", "p99 ms", "recovery s", "served again s", "calls/req", "RSS MB"),
    ]
    for column in columns:
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for row in report.scenarios:
        table.add_row(*_row(row, runs=runs))
    return table


_WITHIN = {
    Guarantee.AT_LEAST_ONCE: "nothing lost, duplicates only of requests in flight at a crash or answered in the second before it",
    Guarantee.EXACTLY_ONCE: "nothing lost, no duplicate",
}


def summary_lines(report: ChaosReport) -> list[str]:
    """One line per scenario: its runs added up, and how many kept the guarantee."""
    return [_summary(s, report.guarantee) for s in report.summaries]


def _summary(summary: ScenarioSummary, guarantee: Guarantee) -> str:
    recovery = "-" if summary.worst_recovery_s is None else f"{summary.worst_recovery_s:.1f} s"
    if summary.not_recovered:
        recovery += f" ({summary.not_recovered} not recovered)"
    return (
        f"{summary.scenario}: {summary.runs} run(s), {summary.sent} sent, {summary.lost} lost, "
        f"{summary.duplicated} duplicated, worst recovery {recovery}; "
        f"{summary.within_guarantee}/{summary.runs} within {guarantee} ({_WITHIN[guarantee]})"
    )


def faults_legend(report: ChaosReport) -> list[str]:
    """The guarantee's setup, then one line per scenario: what its fault was, and what each run noted."""
    lines = []
    if report.worker_env:
        lines.append("every worker: " + ", ".join(f"{k}={v}" for k, v in report.worker_env.items()))
    if report.guarantee is Guarantee.EXACTLY_ONCE:
        defaults = ", ".join(f"{k} {v}" for k, v in report.pipeline_defaults.items())
        lines.append(
            "exactly_once: workers with GRAPHFETCH_PROCESSING_GUARANTEE=exactly_once, profiles read "
            f"read_committed; customer360 defaults {defaults} (not 300/1000: each hop of a request waits "
            "for the transaction commit, every 200 ms, that makes its input visible)"
        )
    faults: dict[str, list[ScenarioFigures]] = {}
    for row in report.scenarios:
        faults.setdefault(row.scenario, []).append(row)
    for scenario, rows in faults.items():
        lines.append(f"{scenario}: {rows[0].fault}")
        for row in rows:
            prefix = f"    run {row.run}: " if report.repeat > 1 else "    "
            lines += [f"{prefix}{note.splitlines()[0]}" for note in row.notes]
    return lines
