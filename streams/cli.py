"""The ``graphfetch`` command line (typer). Commands translate flags and delegate."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer

from planner import ConfigError, GraphfetchError, Pipeline, graph_shape
from streams.catalog import load_catalog
from streams.render import RENDERERS, PlanFormat
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
        help="Pipeline config file or folder [default: $GRAPHFETCH_CONFIGS, else ./configs].",
        show_default=False,
    ),
]
KeyOption = Annotated[list[str], typer.Option("--key", "-k", help="A request key as name=value; repeat.")]
FieldsOption = Annotated[
    str | None, typer.Option("--fields", "-f", help="Comma-separated fields [default: all].")
]

EXIT_STATUS = {"complete": 0, "failed": 1, "partial": 2}


def settings_from(**flags: object) -> Settings:
    """Settings from flags given, then GRAPHFETCH_* variables, then defaults."""
    return Settings(**{k: v for k, v in flags.items() if v is not None})  # type: ignore[arg-type]


def fail(message: str, *, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


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
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders [default: --configs].")] = None,
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
def plan(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    fields: FieldsOption = None,
    fmt: Annotated[PlanFormat, typer.Option("--format", help="text, mermaid or dot.")] = "text",
    configs: ConfigsOption = None,
) -> None:
    """Show the graph a request would get: levels, dependencies and the critical path."""
    settings = settings_from(configs=configs)
    loaded = load_pipeline(settings, pipeline)
    try:
        shape = graph_shape(loaded, parse_fields(fields))
    except GraphfetchError as exc:
        raise fail(str(exc)) from None
    typer.echo(RENDERERS[fmt](loaded, shape))


@app.command()
def run(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    key: KeyOption,
    fields: FieldsOption = None,
    deadline_ms: Annotated[float | None, typer.Option(help="Request deadline [default: pipeline's].")] = None,
    configs: ConfigsOption = None,
) -> None:
    """Execute one request in process, without Kafka; exit 0 complete, 2 partial, 1 failed."""
    from streams.inprocess import InProcessEngine

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
        return emission.profile.status

    try:
        status = asyncio.run(go())
    except GraphfetchError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(EXIT_STATUS[status])


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
