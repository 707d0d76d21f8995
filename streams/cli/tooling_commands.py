"""``graphfetch demo-upstreams``, ``bench`` and ``chaos``: the tooling of the ``dev`` extra, imported inside each command."""

from __future__ import annotations

import importlib

import typer

from streams.cli.common import needs_dev_extra, settings_from


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


def bench(ctx: typer.Context) -> None:
    """Measure graphfetch's speed: floor, in-process engine and Kafka runtime side by side.

    Its flags are the bench's own (devkit, the dev extra): ``graphfetch bench --help`` lists them.
    """
    _hand_over(ctx, "bench", "devkit.bench.command")


def chaos(ctx: typer.Context) -> None:
    """Break a local graphfetch deployment on purpose and count what its clients see.

    Its flags are the fault suite's own (devkit, the dev extra): ``graphfetch chaos --help`` lists them.
    """
    _hand_over(ctx, "chaos", "devkit.chaos.command")


def _hand_over(ctx: typer.Context, command: str, module: str) -> None:
    """Run the typer ``app`` of devkit's ``module`` with this command's arguments."""
    try:
        app = importlib.import_module(module).app
    except ModuleNotFoundError as exc:
        raise needs_dev_extra(command, exc) from None
    typer.main.get_command(app).main(
        args=list(ctx.args), prog_name=f"graphfetch {command}", standalone_mode=True
    )
