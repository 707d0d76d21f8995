"""The ``graphfetch`` command line (typer). Commands translate flags and delegate."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from planner import ConfigError, GraphfetchError, Pipeline, Profile, graph_shape
from streams.cli.config_commands import config_app
from streams.cli.plan_formats import RENDERERS, PlanFormat
from streams.cli.shared_options import BootstrapOption, BrokerKind, BrokerKindOption
from streams.contracts.files import FORMATS, ContractFormat, contract_texts, write_texts
from streams.liveconfig.catalog import load_catalog
from streams.settings import Settings

app = typer.Typer(
    name="graphfetch",
    help="Event-driven streaming orchestrator for request-time data retrieval.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ConfigsOption = Annotated[
    Path | None,
    typer.Option(
        "--configs",
        help="Pipeline config file or folder (default: $GRAPHFETCH_CONFIGS, else ./configs).",
        show_default=False,
    ),
]
KeyOption = Annotated[list[str], typer.Option("--key", "-k", help="A request key as name=value; repeat.")]
FieldsOption = Annotated[
    str | None, typer.Option("--fields", "-f", help="Comma-separated fields (default: all).")
]

app.add_typer(config_app, name="config")

EXIT_STATUS = {"complete": 0, "failed": 1, "partial": 2}


def settings_from(**flags: object) -> Settings:
    """Settings from flags given, then GRAPHFETCH_* variables, then defaults."""
    return Settings(**{k: v for k, v in flags.items() if v is not None})  # type: ignore[arg-type]


def fail(message: str, *, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


DEV_EXTRA = "pip install 'graphfetch[dev]'"


def needs_dev_extra(command: str, exc: ModuleNotFoundError) -> typer.Exit:
    """The one line a tooling command prints when the ``dev`` extra (or devkit) is not installed."""
    return fail(f"graphfetch {command} needs the dev extra ({exc.name} is not installed): {DEV_EXTRA}")


def parse_keys(pairs: list[str]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise fail(f"--key expects name=value, got {pair!r}")
        keys[name] = value
    return keys


def parse_fields(fields: str | None) -> list[str] | None:
    if fields is None:
        return None
    return [f.strip() for f in fields.split(",") if f.strip()]


def load_pipeline(settings: Settings, name: str) -> Pipeline:
    try:
        pipelines = load_catalog([settings.configs])
    except ConfigError as exc:
        raise fail(str(exc)) from None
    pipeline = pipelines.get(name)
    if pipeline is None:
        known = ", ".join(sorted(pipelines)) or "none"
        raise fail(f"unknown pipeline '{name}' in {settings.configs} (known: {known})")
    return pipeline


@app.command()
def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders (default: --configs).")] = None,
    configs: ConfigsOption = None,
) -> None:
    """Validate pipeline configs; exit 1 listing every problem."""
    targets = paths or [settings_from(configs=configs).configs]
    try:
        pipelines = load_catalog(targets)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    for pipeline in pipelines.values():
        typer.echo(
            f"ok  {pipeline.file}: pipeline '{pipeline.name}' version {pipeline.version}, "
            f"{len(pipeline.nodes)} nodes, {len(pipeline.fields)} fields"
        )


@app.command()
def contracts(
    fmt: Annotated[
        ContractFormat | None,
        typer.Option("--format", help="asyncapi or jsonschema (default: both).", show_default=False),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the files to.")] = Path("schemas"),
    configs: ConfigsOption = None,
) -> None:
    """Write the public event contracts: JSON Schemas and the AsyncAPI document of the loaded pipelines."""
    settings = settings_from(configs=configs)
    try:
        pipelines = load_catalog([settings.configs])
    except ConfigError as exc:
        raise fail(str(exc)) from None
    texts = contract_texts(settings, pipelines, formats=FORMATS if fmt is None else (fmt,))
    for path in write_texts(texts, out):
        typer.echo(path)


@app.command()
def plan(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    fields: FieldsOption = None,
    fmt: Annotated[PlanFormat, typer.Option("--format", help="text, mermaid or dot.")] = "text",
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Predicted latency and adaptive decisions from the workers' history."),
    ] = False,
    bootstrap: BootstrapOption = None,
    configs: ConfigsOption = None,
) -> None:
    """Show the graph a request would get: levels, dependencies and the critical path."""
    settings = settings_from(configs=configs, bootstrap=bootstrap)
    loaded = load_pipeline(settings, pipeline)
    try:
        shape = graph_shape(loaded, parse_fields(fields))
    except GraphfetchError as exc:
        raise fail(str(exc)) from None
    if not explain:
        typer.echo(RENDERERS[fmt](loaded, shape))
        return
    from aiokafka.errors import KafkaError

    from streams.cli.explain import SharedView, explain_text, read_shared
    from streams.engine.history import History

    try:
        view = asyncio.run(read_shared(settings))
    except (TimeoutError, OSError, KafkaError) as exc:
        typer.echo(
            f"no history: cannot read {settings.stats_topic} on {settings.bootstrap} ({exc or type(exc).__name__}); "
            "predictions below use configured timeouts",
            err=True,
        )
        view = SharedView(History(min_samples=settings.history_min_samples))
    typer.echo(explain_text(loaded, shape, view))


@app.command()
def run(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    key: KeyOption,
    fields: FieldsOption = None,
    deadline_ms: Annotated[float | None, typer.Option(help="Request deadline (default: pipeline's).")] = None,
    configs: ConfigsOption = None,
) -> None:
    """Execute one request in process, without Kafka; exit 0 complete, 2 partial, 1 failed."""
    from streams.engine.inprocess import InProcessEngine
    from streams.telemetry.tracing import setup_tracing

    setup_tracing("graphfetch-cli")
    settings = settings_from(configs=configs)
    loaded = load_pipeline(settings, pipeline)
    keys = parse_keys(key)

    async def go() -> str:
        async with InProcessEngine() as engine:
            emission = await engine.execute(
                loaded,
                keys=keys,
                fields=parse_fields(fields),
                deadline_ms=deadline_ms,
                request_id=f"run-{uuid.uuid4().hex[:12]}",
            )
        typer.echo(emission.profile.model_dump_json(indent=2))
        if emission.profile.trace_id:
            typer.echo(
                f"trace {emission.profile.trace_id}: {jaeger_url(emission.profile.trace_id)}", err=True
            )
        return emission.profile.status

    try:
        status = asyncio.run(go())
    except GraphfetchError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(EXIT_STATUS[status])


@app.command()
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


def output_topics(settings: Settings) -> dict[str, str]:
    """Each loaded pipeline's output topic, for the client to wait on (and to refuse unknown pipelines)."""
    try:
        pipelines = load_catalog([settings.configs])
    except ConfigError as exc:
        raise fail(str(exc)) from None
    return {name: pipeline.config.output.topic for name, pipeline in pipelines.items()}


@app.command()
def produce(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    key: KeyOption,
    fields: FieldsOption = None,
    count: Annotated[
        int,
        typer.Option(
            "--count", "-n", min=1, help="How many requests; {i} in a key value is the request number."
        ),
    ] = 1,
    rate: Annotated[
        float | None, typer.Option(help="Requests per second (default: as fast as possible).")
    ] = None,
    deadline_ms: Annotated[float | None, typer.Option(help="Request deadline (default: pipeline's).")] = None,
    bootstrap: BootstrapOption = None,
) -> None:
    """Send requests to graphfetch.requests (a progress bar for --count > 1)."""
    from rich.progress import Progress

    from streams.client import GraphfetchClient
    from streams.telemetry.tracing import setup_tracing

    setup_tracing("graphfetch-cli")
    settings = settings_from(bootstrap=bootstrap)
    keys = parse_keys(key)

    async def go(advance: Callable[[int], None]) -> list[str]:
        async with GraphfetchClient(settings=settings) as client:
            return await client.send_many(
                pipeline,
                keys=keys,
                count=count,
                fields=parse_fields(fields),
                deadline_ms=deadline_ms,
                rate=rate,
                progress=advance,
            )

    with Progress(disable=count == 1, transient=False) as bar:
        task = bar.add_task("producing", total=count)
        ids = asyncio.run(go(lambda n: bar.advance(task, n)))
    typer.echo(
        f"sent {len(ids)} request(s) to {settings.requests_topic}: {ids[0]}"
        + (f" .. {ids[-1]}" if len(ids) > 1 else "")
    )


@app.command()
def consume(
    topic: Annotated[str, typer.Argument(help="Topic to read.")] = "profiles.enriched",
    follow: Annotated[bool, typer.Option("--follow", help="Keep reading new records.")] = False,
    bootstrap: BootstrapOption = None,
) -> None:
    """Print the records of a topic (profiles by default) as JSON lines, from the beginning."""
    from streams.client import GraphfetchClient

    settings = settings_from(bootstrap=bootstrap)

    async def go() -> None:
        client = GraphfetchClient(settings=settings)  # reading only: no producer to open
        async for _, value in client.records(topic, follow=follow):
            if value is not None:
                typer.echo(value.decode("utf-8", "replace"))

    try:
        asyncio.run(go())
    except TimeoutError as exc:
        raise fail(str(exc)) from None


@app.command()
def request(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    key: KeyOption,
    fields: FieldsOption = None,
    deadline_ms: Annotated[float | None, typer.Option(help="Request deadline (default: pipeline's).")] = None,
    timeout_s: Annotated[float, typer.Option(help="How long to wait for the profile.")] = 30.0,
    bootstrap: BootstrapOption = None,
    configs: ConfigsOption = None,
) -> None:
    """Produce one request and wait for its profile; exit 0 complete, 2 partial, 1 failed, 3 no profile,
    4 refused (dead-lettered, with the reason)."""
    from streams.client import GraphfetchClient, ProfileTimeout, RequestRefused
    from streams.telemetry.tracing import setup_tracing

    setup_tracing("graphfetch-cli")
    settings = settings_from(bootstrap=bootstrap, configs=configs)
    topics = output_topics(settings)

    async def go() -> Profile:
        async with GraphfetchClient(settings=settings, output_topics=topics) as client:
            typer.echo(
                f"sending a {pipeline} request; its profile comes on {client.output_topic(pipeline)}",
                err=True,
            )
            return await client.request(
                pipeline,
                keys=parse_keys(key),
                fields=parse_fields(fields),
                deadline_ms=deadline_ms,
                timeout_s=timeout_s,
            )

    try:
        profile = asyncio.run(go())
    except RequestRefused as exc:
        raise fail(str(exc), code=4) from None
    except ProfileTimeout as exc:
        raise fail(str(exc), code=3) from None
    typer.echo(profile.model_dump_json(indent=2))
    if profile.trace_id:
        typer.echo(f"trace {profile.trace_id}: {jaeger_url(profile.trace_id)}", err=True)
    raise typer.Exit(EXIT_STATUS[profile.status])


CONSOLE_EXTRA = "pip install 'graphfetch[console]'"


@app.command()
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


@app.command()
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


@app.command("broker")
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
        stopping.wait()
    finally:
        broker.stop()
    typer.echo(f"{broker.name} stopped.", err=True)


@app.command(
    "demo-upstreams",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
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


@app.command()
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


@app.command(
    "chaos",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
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


def jaeger_url(trace_id: str) -> str:
    return Settings().trace_url(trace_id)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
