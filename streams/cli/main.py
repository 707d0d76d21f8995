"""The ``graphfetch`` command line (typer): the commands, each in the module of its kind; they translate
flags and delegate."""

from __future__ import annotations

import sys

import typer

from streams.cli.client_commands import consume, produce, request
from streams.cli.config_commands import config_app
from streams.cli.pipeline_commands import contracts, plan, run, validate
from streams.cli.service_commands import broker_command, console, dev, worker
from streams.cli.tooling_commands import bench, chaos, demo_upstreams

app = typer.Typer(
    name="graphfetch",
    help="Event-driven streaming orchestrator for request-time data retrieval.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
"""Context of the commands whose arguments go to a typer app of their own, ``--help`` included."""

app.add_typer(config_app, name="config")
for command in (validate, contracts, plan, run, worker, produce, consume, request, console, dev):
    app.command()(command)
app.command("broker")(broker_command)
app.command("demo-upstreams", context_settings=_PASS_THROUGH, add_help_option=False)(demo_upstreams)
app.command("bench", context_settings=_PASS_THROUGH, add_help_option=False)(bench)
app.command("chaos", context_settings=_PASS_THROUGH, add_help_option=False)(chaos)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
