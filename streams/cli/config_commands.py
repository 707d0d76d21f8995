"""``graphfetch config``: push, list, roll back and remove pipeline versions on a running cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from planner import ConfigError, config_files
from streams.cli.shared_options import BootstrapOption
from streams.liveconfig.catalog import parse_checked
from streams.liveconfig.configtopic import (
    ActiveRecord,
    ConfigHistory,
    VersionRecord,
    now_iso,
    publish_records,
    read_history,
)
from streams.settings import Settings

config_app = typer.Typer(help="Change the pipelines of running workers through the graphfetch.configs topic.")


def _settings(bootstrap: str | None) -> Settings:
    return Settings(bootstrap=bootstrap) if bootstrap else Settings()


@config_app.command("push")
def push(
    file: Annotated[Path, typer.Argument(help="A pipeline YAML file.", exists=True, dir_okay=False)],
    bootstrap: BootstrapOption = None,
) -> None:
    """Validate a pipeline file and make it the version every worker serves."""
    settings = _settings(bootstrap)
    text = file.read_text(encoding="utf-8")
    try:
        pipeline = parse_checked(text, file=str(file))
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    history = asyncio.run(read_history(settings))
    records: list[VersionRecord | ActiveRecord] = []
    if not history.versions.get(pipeline.name):
        baseline = _folder_version(settings, pipeline.name)
        if baseline is not None and baseline.version != pipeline.version:
            records.append(baseline)  # so `config rollback` can return to what workers served before
    at = now_iso()
    records += [
        VersionRecord(
            pipeline=pipeline.name, version=pipeline.version, text=text, file=str(file), pushed_at=at
        ),
        ActiveRecord(pipeline=pipeline.name, version=pipeline.version, at=at),
    ]
    asyncio.run(publish_records(settings, records))
    typer.echo(f"pushed {pipeline.name} version {pipeline.version} to {settings.configs_topic}")


def _folder_version(settings: Settings, name: str) -> VersionRecord | None:
    """The version of ``name`` in the local configs folder, if it has a valid one."""
    if not settings.configs.exists():
        return None
    for path in config_files([settings.configs]):
        text = path.read_text(encoding="utf-8")
        try:
            pipeline = parse_checked(text, file=str(path))
        except ConfigError:
            continue
        if pipeline.name == name:
            return VersionRecord(
                pipeline=name, version=pipeline.version, text=text, file=str(path), pushed_at=now_iso()
            )
    return None


@config_app.command("list")
def list_versions(bootstrap: BootstrapOption = None) -> None:
    """Show every pushed version of every pipeline and which one is active."""
    history = asyncio.run(read_history(_settings(bootstrap)))
    if not history.pipelines():
        typer.echo("no pipeline was pushed (workers serve their configs folder)")
        return
    for name in history.pipelines():
        active = history.active.get(name)
        state = "removed" if active is not None and active.version is None else "active"
        typer.echo(f"{name}")
        for v in history.ordered_versions(name):
            mark = f"  <- {state}" if active is not None and active.version == v.version else ""
            typer.echo(f"  {v.version}  pushed {v.pushed_at}  {v.file or ''}{mark}")
        if active is not None and active.version is None:
            typer.echo(f"  (removed at {active.at})")


def _previous(history: ConfigHistory, name: str) -> str:
    versions = [v.version for v in history.ordered_versions(name)]
    active = history.active.get(name)
    current = active.version if active else None
    if current in versions:
        index = versions.index(current)
        if index > 0:
            return versions[index - 1]
    raise typer.BadParameter(f"pipeline '{name}' has no version before {current}; pass --to VERSION")


@config_app.command("rollback")
def rollback(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="Version to serve (default: the one pushed before the active one)."),
    ] = None,
    bootstrap: BootstrapOption = None,
) -> None:
    """Serve an earlier version of a pipeline again."""
    settings = _settings(bootstrap)
    history = asyncio.run(read_history(settings))
    known = history.versions.get(pipeline, {})
    if not known:
        typer.echo(
            f"pipeline '{pipeline}' has no pushed versions (known: {', '.join(history.pipelines()) or 'none'})",
            err=True,
        )
        raise typer.Exit(1)
    target = to or _previous(history, pipeline)
    if target not in known:
        typer.echo(f"pipeline '{pipeline}' has no version {target} (known: {', '.join(known)})", err=True)
        raise typer.Exit(1)
    asyncio.run(
        publish_records(
            settings, [ActiveRecord(pipeline=pipeline, version=target, at=now_iso(), reason="rollback")]
        )
    )
    typer.echo(f"{pipeline} now serves version {target}")


@config_app.command("remove")
def remove(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")], bootstrap: BootstrapOption = None
) -> None:
    """Stop serving a pipeline: its new requests go to the DLQ; those in flight finish."""
    settings = _settings(bootstrap)
    asyncio.run(
        publish_records(
            settings, [ActiveRecord(pipeline=pipeline, version=None, at=now_iso(), reason="remove")]
        )
    )
    typer.echo(f"{pipeline} removed")
