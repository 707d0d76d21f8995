"""``graphfetch validate``, ``contracts``, ``plan`` and ``run``: pipelines checked, described and run in process."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Annotated

import typer

from planner import ConfigError, GraphfetchError, graph_shape
from streams.cli.common import (
    EXIT_STATUS,
    ConfigsOption,
    FieldsOption,
    KeyOption,
    fail,
    load_pipeline,
    parse_fields,
    parse_keys,
    settings_from,
)
from streams.cli.plan_formats import RENDERERS, PlanFormat
from streams.cli.shared_options import BootstrapOption
from streams.contracts.files import FORMATS, ContractFormat, contract_texts, write_texts
from streams.liveconfig.catalog import load_catalog


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
                f"trace {emission.profile.trace_id}: {settings.trace_url(emission.profile.trace_id)}",
                err=True,
            )
        return emission.profile.status

    try:
        status = asyncio.run(go())
    except GraphfetchError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(EXIT_STATUS[status])
