"""``graphfetch chaos``: run the fault scenarios and print (or save) their figures."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from devkit.chaos.guarantees import Guarantee, UnsupportedGuarantee, broker_for
from devkit.chaos.runner import Durations, chosen, run_chaos
from devkit.chaos.scenarios import SCENARIOS
from devkit.chaos.table import chaos_table, faults_legend, summary_lines
from streams.cli.service_runner import Interrupted, cancelled_on_signal
from streams.cli.shared_options import BrokerKind, BrokerKindOption

_FILE_WIDTH = 180

app = typer.Typer(help="Break a local graphfetch deployment on purpose and count what its clients see.")


@app.callback(invoke_without_command=True)
def chaos(
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario", "-s", help=f"Scenario to run; repeat (default: all: {', '.join(SCENARIOS)})."
        ),
    ] = None,
    rate: Annotated[float, typer.Option("--rate", min=1.0, help="Requests per second, open loop.")] = 30.0,
    duration: Annotated[
        float, typer.Option("--duration", min=0.05, help="Scale of every phase's duration (1: full length).")
    ] = 1.0,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures as JSON here.")
    ] = None,
    broker: BrokerKindOption = BrokerKind.AUTO,
    guarantee: Annotated[
        Guarantee,
        typer.Option(
            "--guarantee",
            help="Processing guarantee of the workers; exactly_once needs Apache Kafka (--broker kafka or "
            "auto) and allows no duplicate, crash or not.",
        ),
    ] = Guarantee.AT_LEAST_ONCE,
    repeat: Annotated[
        int, typer.Option("--repeat", min=1, help="Runs of each scenario, a fresh deployment each.")
    ] = 1,
    workdir: Annotated[
        Path | None,
        typer.Option(
            "--workdir",
            help="Keep every deployment's broker and worker logs here (default: a temporary folder, removed).",
        ),
    ] = None,
    worker_env: Annotated[
        list[str] | None,
        typer.Option(
            "--worker-env",
            help="A setting for every worker, GRAPHFETCH_NAME=VALUE (repeat), e.g. "
            "GRAPHFETCH_SESSION_TIMEOUT_MS=10000: to measure what a setting does under faults.",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Fresh broker, demo upstreams and workers per scenario; a steady customer360 stream; one fault each."""
    try:
        kind = broker_for(guarantee, broker)
    except UnsupportedGuarantee as exc:
        typer.echo(f"graphfetch chaos: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        scenarios = chosen(scenario)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scenario") from None
    try:
        settings = worker_settings(worker_env or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--worker-env") from None
    console = Console()
    if not console.is_terminal:
        console = Console(width=_FILE_WIDTH)  # a log or a pipe: the whole table on one line per row
    bar = Progress(
        TextColumn("[bold]chaos[/bold] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} runs"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not progress,
    )
    with bar:
        task = bar.add_task("starting", total=len(scenarios) * repeat)
        try:
            report = asyncio.run(
                cancelled_on_signal(
                    run_chaos(
                        [s.name for s in scenarios],
                        rate=rate,
                        durations=Durations(scale=duration),
                        workdir=workdir,
                        broker=kind,
                        guarantee=guarantee,
                        repeat=repeat,
                        worker_env=settings,
                        phase=lambda text: bar.update(task, description=text),
                        done=lambda _: bar.advance(task),
                    )
                )
            )
        except Interrupted:
            typer.echo("graphfetch chaos: interrupted; its deployments are stopped", err=True)
            raise typer.Exit(130) from None
    console.print(chaos_table(report))
    for line in summary_lines(report):
        console.print(line, highlight=False)
    for line in faults_legend(report):
        console.print(line, highlight=False)
    if json_path is not None:
        json_path.write_text(report.model_dump_json(indent=2))
        console.print(f"figures written to {json_path}")


def worker_settings(pairs: list[str]) -> dict[str, str]:
    """``GRAPHFETCH_NAME=VALUE`` pairs as a mapping; ValueError naming the first malformed one."""
    settings: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.startswith("GRAPHFETCH_") or name == "GRAPHFETCH_":
            raise ValueError(f"{pair!r} is not GRAPHFETCH_NAME=VALUE")
        settings[name] = value
    return settings
