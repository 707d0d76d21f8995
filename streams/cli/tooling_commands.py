"""``graphfetch demo-upstreams``, ``bench`` and ``chaos``: the tooling of the ``dev`` extra, imported inside each command."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from planner import GraphfetchError
from streams.cli.common import (
    fail,
    needs_dev_extra,
    settings_from,
)
from streams.cli.shared_options import BrokerKind, BrokerKindOption


def demo_upstreams(ctx: typer.Context) -> None:
    """Serve the demo upstream APIs (CRM, orders, support, loyalty, risk, shipping) with fault knobs.

    Its flags are the demo's own (devkit, the dev extra): ``graphfetch demo-upstreams --help`` lists them.
    """
    try:
        from devkit.demo.command_line import main as demo_main
    except ModuleNotFoundError as exc:
        raise needs_dev_extra("demo-upstreams", exc) from None

    args = list(ctx.args)
    if not any(a == "--port" or a.startswith("--port=") for a in args):
        args += ["--port", str(settings_from().demo_port)]
    raise typer.Exit(demo_main(args))


def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="Small counts: under 2 minutes (what CI runs).")
    ] = False,
    out: Annotated[Path, typer.Option("--out", help="Folder for bench.json and the plot.")] = Path(
        "bench-results"
    ),
    only: Annotated[
        str | None,
        typer.Option("--only", help="Comma-separated runtimes: floor, inprocess, kafka (default: all)."),
    ] = None,
    bootstrap: Annotated[
        str | None,
        typer.Option(
            "--bootstrap", "-b", help="Measure on this Kafka cluster instead of a local broker per runtime."
        ),
    ] = None,
    broker: BrokerKindOption = BrokerKind.AUTO,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Measure graphfetch's speed: floor, in-process engine and Kafka runtime side by side.

    Prints tables (targets marked pass/FAIL; a miss does not change the exit code) and writes
    bench.json and latency-vs-load.png to --out.
    """
    try:
        from devkit.bench import (
            BenchError,
            BenchOptions,
            parse_only,
            print_report,
            report_console,
            run_bench,
            write_outputs,
        )
        from devkit.brokers import choose_kind
    except ModuleNotFoundError as exc:
        raise needs_dev_extra("bench", exc) from None
    try:
        runtimes = parse_only(only)
    except ValueError as exc:
        raise fail(str(exc)) from None

    kind = choose_kind(broker)
    flags = [("--quick", quick), (f"--only {only}", only), (f"--bootstrap {bootstrap}", bootstrap)]
    flags.append((f"--broker {kind.value}", bootstrap is None))
    command = " ".join(["graphfetch bench", *(text for text, given in flags if given)])
    options = BenchOptions(
        quick=quick,
        out=out,
        only=runtimes,
        bootstrap=bootstrap,
        broker=kind,
        progress=progress,
        command=command,
    )
    from streams.cli.service_runner import Interrupted, cancelled_on_signal

    try:
        report = asyncio.run(cancelled_on_signal(run_bench(options)))
    except (BenchError, GraphfetchError) as exc:
        raise fail(f"bench failed: {exc}") from None
    except Interrupted:
        typer.echo("graphfetch bench: interrupted; what it started is stopped", err=True)
        raise typer.Exit(130) from None
    print_report(report, report_console())
    for path in write_outputs(report, out):
        typer.echo(f"wrote {path}")


def chaos(ctx: typer.Context) -> None:
    """Break a local graphfetch deployment on purpose and count what its clients see.

    Its flags are the fault suite's own (devkit, the dev extra): ``graphfetch chaos --help`` lists them.
    """
    try:
        from devkit.chaos.command import app as chaos_app
    except ModuleNotFoundError as exc:
        raise needs_dev_extra("chaos", exc) from None
    command = typer.main.get_command(chaos_app)
    command.main(args=list(ctx.args), prog_name="graphfetch chaos", standalone_mode=True)
