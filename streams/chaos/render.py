"""The chaos table on a terminal (rich), one row per scenario."""

from __future__ import annotations

from rich.table import Table

from streams.chaos.figures import ScenarioFigures
from streams.chaos.runner import ChaosReport

_STATUSES = ("complete", "partial", "failed")


def _f(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _split(statuses: dict[str, int]) -> str:
    """``complete/partial/failed`` counts."""
    return "/".join(str(statuses.get(s, 0)) for s in _STATUSES)


def _row(row: ScenarioFigures) -> list[str]:
    return [
        row.scenario,
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
        f"{_f(row.worker_rss_baseline_mb)}->{_f(row.worker_rss_peak_mb)}",
    ]


def chaos_table(report: ChaosReport) -> Table:
    table = Table(
        title=f"graphfetch under faults: customer360 at {report.rate:g} req/s (durations x{report.scale:g})",
        title_justify="left",
        caption="statuses: complete/partial/failed first profiles, for all requests, those sent during the fault, "
        "those sent after it; p99: client latency of requests sent before / during / after the fault; "
        "recovery: fault end until clients were served complete at normal latency again; "
        "RSS: summed worker memory, peak before the fault -> peak over the run",
        caption_justify="left",
    )
    columns = [
        *("scenario", "fault s", "sent", "received", "lost", "dup", "in flight"),
        *("statuses", "during", "after", "p99 ms", "recovery s", "RSS MB"),
    ]
    for column in columns:
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for row in report.scenarios:
        table.add_row(*_row(row))
    return table


def faults_legend(report: ChaosReport) -> list[str]:
    """One line per scenario: what its fault was, and anything the run noted."""
    lines = []
    for row in report.scenarios:
        lines.append(f"{row.scenario}: {row.fault}")
        lines += [f"    {note.splitlines()[0]}" for note in row.notes]
    return lines
