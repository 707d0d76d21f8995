"""``graphfetch worker``, ``console``, ``dev`` and ``broker``: the long-running processes, stopped by SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from planner import ConfigError
from streams.cli.common import (
    CONSOLE_EXTRA,
    ConfigsOption,
    fail,
    needs_dev_extra,
    settings_from,
)
from streams.cli.shared_options import BootstrapOption, BrokerKind, BrokerKindOption
from streams.liveconfig.catalog import load_catalog


def worker(
    role: Annotated[
        str, typer.Option("--role", help="Comma-separated roles: planner, connector, aggregator.")
    ] = "planner,connector,aggregator",
    bootstrap: BootstrapOption = None,
    configs: ConfigsOption = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Run agents against a Kafka cluster; any number of workers can run side by side."""
    from aiokafka.errors import KafkaConnectionError

    from streams.cli.service_runner import run_service, setup_logging
    from streams.runtime.transactions import TransactionsUnsupportedError
    from streams.runtime.worker import Worker, parse_roles
    from streams.telemetry.metrics import setup_metrics
    from streams.telemetry.tracing import setup_tracing

    settings = settings_from(bootstrap=bootstrap, configs=configs)
    setup_logging(log_level, json_format=settings.log_format == "json")
    try:
        roles = parse_roles(role)
        pipelines = load_catalog([settings.configs])
    except (ValueError, ConfigError) as exc:
        raise fail(str(exc)) from None
    setup_tracing("graphfetch-worker")
    setup_metrics("graphfetch-worker", prometheus_port=settings.prometheus_port, host=settings.metrics_host)
    service = Worker(settings, pipelines=pipelines, roles=roles, worker_id=settings.worker_id)
    try:
        run_service(service.run(), service.stop, event_loop=settings.event_loop)
    except TransactionsUnsupportedError as exc:
        raise fail(str(exc)) from None
    except KafkaConnectionError as exc:
        hint = ""
        if settings.security_protocol != "PLAINTEXT":
            hint = f" ({settings.security_protocol}: the log line above says whether authentication or TLS failed)"
        raise fail(f"cannot connect to Kafka at {settings.bootstrap}: {exc}{hint}") from None


def console(
    port: Annotated[
        int | None,
        typer.Option("--port", "-p", help="Port (default: $GRAPHFETCH_CONSOLE_PORT, else 8780; 0: any)."),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Interface (default: $GRAPHFETCH_CONSOLE_HOST, else 127.0.0.1)."),
    ] = None,
    bootstrap: BootstrapOption = None,
    configs: ConfigsOption = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "WARNING",
) -> None:
    """Serve the operator console: pipelines, live health, profiles, the DLQ, workers; Ctrl-C stops it."""
    try:
        from streams.console import serve_console
    except ModuleNotFoundError as exc:
        raise fail(
            f"graphfetch console needs the console extra ({exc.name} is not installed): {CONSOLE_EXTRA}"
        ) from None
    from streams.cli.service_runner import run_service, setup_logging

    setup_logging(log_level)
    settings = settings_from(bootstrap=bootstrap, configs=configs, console_port=port, console_host=host)
    stopping = asyncio.Event()

    def announce(url: str) -> None:
        mode = "read-only" if settings.console_token is None else "changes need GRAPHFETCH_CONSOLE_TOKEN"
        typer.echo(f"console           {url}  ({mode}; cluster {settings.bootstrap})", err=False)

    from aiokafka.errors import KafkaError

    try:
        run_service(serve_console(settings, stopping=stopping, announce=announce), stopping.set)
    except (KafkaError, TimeoutError) as exc:
        raise fail(
            f"graphfetch console cannot read the cluster at {settings.bootstrap} ({exc}): "
            "check --bootstrap or GRAPHFETCH_BOOTSTRAP"
        ) from None
    except OSError as exc:
        raise fail(str(exc)) from None


def dev(
    no_demo: Annotated[bool, typer.Option("--no-demo", help="Do not send the demo requests.")] = False,
    bootstrap: Annotated[
        str | None,
        typer.Option("--bootstrap", "-b", help="Use this Kafka instead of starting a local broker."),
    ] = None,
    broker: BrokerKindOption = BrokerKind.AUTO,
    configs: ConfigsOption = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "WARNING",
    no_console: Annotated[
        bool, typer.Option("--no-console", help="Do not serve the operator console.")
    ] = False,
) -> None:
    """Start a local broker, the demo upstreams, every worker role and the console; Ctrl-C stops all."""
    try:
        from devkit.brokers import BrokerError
        from devkit.demo.server import DemoServerError
        from devkit.devstack import DevOptions, DevStack
    except ModuleNotFoundError as exc:
        raise needs_dev_extra("dev", exc) from None
    from streams.cli.service_runner import run_service, setup_logging
    from streams.telemetry.tracing import setup_tracing

    setup_logging(log_level)
    settings = settings_from(bootstrap=bootstrap, configs=configs)
    try:
        pipelines = load_catalog([settings.configs])
    except ConfigError as exc:
        raise fail(str(exc)) from None
    setup_tracing("graphfetch-dev")
    stack = DevStack(
        DevOptions(
            settings=settings,
            pipelines=pipelines,
            broker=broker if bootstrap is None else None,
            demo=not no_demo,
            echo=typer.echo,
            console=not no_console,
        )
    )
    try:
        run_service(stack.run(), stack.stop, event_loop=settings.event_loop)
    except DemoServerError as exc:
        raise fail(f"{exc} (set GRAPHFETCH_DEMO_PORT to use another port for the demo upstreams)") from None
    except BrokerError as exc:
        raise fail(str(exc)) from None
    typer.echo("stopped.")


def broker_command(
    kind: Annotated[
        BrokerKind,
        typer.Option(
            "--kind",
            help="kafka (Apache Kafka, needs Java and scripts/kafka/fetch), tansu (zero setup), "
            "or auto (kafka where installed, else tansu).",
        ),
    ] = BrokerKind.AUTO,
    port: Annotated[int | None, typer.Option("--port", help="Client port (default: a free one).")] = None,
    log: Annotated[
        Path | None, typer.Option("--log", help="Append the broker's output to this file.")
    ] = None,
) -> None:
    """Run a local broker in the foreground; prints bootstrap=HOST:PORT first, stops on Ctrl-C or SIGTERM."""
    import signal
    import threading

    try:
        from devkit.brokers import BrokerError, choose_kind, local_broker
    except ModuleNotFoundError as exc:
        raise needs_dev_extra("broker", exc) from None

    chosen = choose_kind(kind)
    broker = local_broker(chosen, port=port, log_path=log)
    stopping = threading.Event()
    # Handlers, not a blocked signal mask: a broker process would inherit the mask
    # and ignore its own stop signal. A signal during the start is acted on after it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        broker.start()
    except BrokerError as exc:
        raise fail(str(exc)) from None
    try:
        typer.echo(f"bootstrap={broker.bootstrap}")
        sys.stdout.flush()
        typer.echo(
            f"{broker.name} ready in {broker.startup_s or 0:.1f} s (pid {broker.pid}); Ctrl-C stops it",
            err=True,
        )
        while not stopping.wait(0.5):
            if (code := broker.exit_code) is not None:  # it ended by itself: say so, do not wait on
                raise fail(
                    f"{broker.name} exited by itself (code {code}); its last output:\n{broker.last_output()}"
                )
    finally:
        broker.stop()
    typer.echo(f"{broker.name} stopped.", err=True)
