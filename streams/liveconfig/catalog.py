"""Loading pipelines for a runtime: the planner's checks plus each connector's own.

The planner cannot know what an HTTP or SQL request looks like; here every
node's request and every source's settings are checked by its connector (and
the ``breaker:`` and ``limits:`` every source may have), so a bad config fails
at load time with a located message, not at the first fetch.
A pipeline that passes is bound to its connectors' escapes (:func:`bind_connectors`):
each connector says how a value substituted into its requests is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from connectors import ConnectorRegistry, FetchError, default_registry
from connectors.generic_settings import breaker_settings, limit_settings
from planner import ConfigError, Pipeline, Problem, load_pipelines_reporting, parse_pipeline


def connector_problems(pipeline: Pipeline, registry: ConnectorRegistry) -> list[Problem]:
    problems: list[Problem] = []
    known = ", ".join(registry.names())

    def add(message: str, *, node: str | None = None, where: str | None = None) -> None:
        problems.append(
            Problem(file=pipeline.file, pipeline=pipeline.name, node=node, where=where, message=message)
        )

    for name, source in pipeline.config.sources.items():
        try:
            cls = registry.get(source.connector)
        except KeyError:
            add(f"source '{name}': unknown connector '{source.connector}' (known: {known})", where="sources")
            continue
        try:
            connector = cls(source=name, settings=source.settings)  # construction validates, does no I/O
            breaker_settings(connector, source.settings)  # and the keys every source shares
            limit_settings(connector, source.settings)
        except FetchError as exc:
            add(str(exc), where=f"sources.{name}")
    for name, node in pipeline.nodes.items():
        try:
            cls = registry.get(node.connector)
        except KeyError:
            continue  # reported with its source
        try:
            cls.validate_request(node.request_outline())
        except FetchError as exc:
            add(str(exc), node=name, where="request")
    return problems


def bind_connectors(pipeline: Pipeline, registry: ConnectorRegistry | None = None) -> Pipeline:
    """``pipeline`` with each node given its connector's template escapes (its connectors must be
    known: check with :func:`connector_problems` first)."""
    return pipeline.bind_escapes((registry or default_registry()).template_escapes)


def load_catalog_reporting(
    paths: Iterable[str | Path],
    *,
    registry: ConnectorRegistry | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[dict[str, Pipeline], list[Problem]]:
    """The pipelines that pass every check, bound to their connectors, and the problems of those
    that do not. ``env`` resolves ``${VAR}`` references (default: the process environment)."""
    registry = registry or default_registry()
    loaded, problems = load_pipelines_reporting(paths, env=env)
    valid: dict[str, Pipeline] = {}
    for name, pipeline in loaded.items():
        found = connector_problems(pipeline, registry)
        problems.extend(found)
        if not found:
            valid[name] = bind_connectors(pipeline, registry)
    return valid, problems


def load_catalog(
    paths: Iterable[str | Path],
    *,
    registry: ConnectorRegistry | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Pipeline]:
    """Load pipelines, check them against their connectors and bind them to them; one ConfigError
    with every problem."""
    pipelines, problems = load_catalog_reporting(paths, registry=registry, env=env)
    if problems:
        raise ConfigError(problems)
    return pipelines


def parse_checked(text: str, *, file: str, registry: ConnectorRegistry | None = None) -> Pipeline:
    """Parse one pipeline document and run every check; ConfigError lists all problems."""
    registry = registry or default_registry()
    pipeline = parse_pipeline(text, file=file)
    problems = connector_problems(pipeline, registry)
    if problems:
        raise ConfigError(problems)
    return bind_connectors(pipeline, registry)
