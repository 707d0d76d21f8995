"""What the ``graphfetch`` commands share: their common options, settings from flags, failing with
one line, parsing keys and fields, loading a pipeline, exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner import ConfigError, Pipeline
from streams.liveconfig.catalog import load_catalog
from streams.settings import Settings

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

EXIT_STATUS = {"complete": 0, "failed": 1, "partial": 2}
"""The exit code of ``run`` and ``request`` for each profile status."""
DEV_EXTRA = "pip install 'graphfetch[dev]'"
CONSOLE_EXTRA = "pip install 'graphfetch[console]'"


def settings_from(**flags: object) -> Settings:
    """Settings from flags given, then GRAPHFETCH_* variables, then defaults."""
    return Settings(**{k: v for k, v in flags.items() if v is not None})  # type: ignore[arg-type]


def fail(message: str, *, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


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
