"""``graphfetch bench``'s flags and what they run: measure, print the tables, write the files.

A typer app of the ``dev`` extra, like ``graphfetch chaos``: ``graphfetch bench``
hands it its arguments, and ``python -m devkit.bench`` runs it without the CLI.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from devkit.bench.errors import BenchError
from devkit.bench.options import BROKER_CHOICES, BenchOptions, parse_brokers, parse_only
from devkit.bench.report_tables import print_report, report_console
from devkit.bench.suite import run_bench, write_outputs
from devkit.brokers.apache_kafka import kafka_available
from planner import GraphfetchError
from streams.cli.common import fail
from streams.cli.service_runner import Interrupted, cancelled_on_signal

BROKER_HELP = (
    "Local brokers to start, in turn, comma-separated: "
    + ", ".join(BROKER_CHOICES)
    + ". kafka: Apache Kafka (Java and scripts/kafka/fetch); tansu: zero setup; auto: kafka where "
    "installed, else tansu; all: kafka where installed, and tansu. Each one runs the Kafka runtimes "
    "kafka-1, kafka-2 / tansu-1, tansu-2; targets are judged on kafka. "
    "Default: all for a full run, auto with --quick."
)

app = typer.Typer(
    help="Measure graphfetch's speed: floor, in-process engine and Kafka runtime side by side.",
    add_completion=False,
)


@app.callback(invoke_without_command=True)
def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="Small counts: a couple of minutes (what CI runs).")
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
            "--bootstrap",
            "-b",
            help="Measure the Kafka runtimes on this running cluster (taken to be Apache Kafka) instead "
            "of local brokers.",
        ),
    ] = None,
    broker: Annotated[str | None, typer.Option("--broker", help=BROKER_HELP, show_default=False)] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Measure graphfetch's speed: floor, in-process engine and Kafka runtime side by side.

    Prints tables (targets marked pass/FAIL; a miss does not change the exit code) and writes
    bench.json and latency-vs-load.png to --out.
    """
    try:
        runtimes = parse_only(only)
        brokers = parse_brokers(broker, quick=quick, kafka_installed=kafka_available())
    except ValueError as exc:
        raise fail(str(exc)) from None
    if bootstrap is not None and broker is not None:
        raise fail("--broker and --bootstrap exclude each other: --bootstrap names the one cluster")
    flags = [("--quick", quick), (f"--only {only}", only), (f"--bootstrap {bootstrap}", bootstrap)]
    flags.append((f"--broker {','.join(kind.value for kind in brokers)}", bootstrap is None))
    options = BenchOptions(
        quick=quick,
        out=out,
        only=runtimes,
        bootstrap=bootstrap,
        brokers=brokers,
        progress=progress,
        command=" ".join(["graphfetch bench", *(text for text, given in flags if given)]),
    )
    try:
        report = asyncio.run(cancelled_on_signal(run_bench(options)))
    except (BenchError, GraphfetchError) as exc:
        raise fail(f"bench failed: {exc}") from None
    except Interrupted:
        raise fail("graphfetch bench: interrupted; what it started is stopped", code=130) from None
    print_report(report, report_console())
    for path in write_outputs(report, out):
        typer.echo(f"wrote {path}")
