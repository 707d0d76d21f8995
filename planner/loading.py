"""Reading pipeline configs from YAML files: one pipeline a file, or a folder of them.

Loading is where text becomes typed objects, so it is where every mistake is
reported: YAML syntax, duplicate keys, wrong types, environment variables that
are not set, and (through :func:`~planner.pipeline.compile_pipeline`) what spans
several parts. All problems of a file are reported at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from planner.config import PipelineConfig
from planner.errors import ConfigError, Problem
from planner.pipeline import Pipeline, compile_pipeline

CONFIG_SUFFIXES = (".yaml", ".yml")
_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|APIKEY|API_KEY|DSN|AUTH", re.IGNORECASE)
MAX_CONFIG_BYTES = 1_000_000


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of keeping the last."""


def _construct_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, Hashable):
            break  # construct_mapping below reports "found unhashable key" with its line
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key '{key}' (first at line {seen[key]})",
                key_node.start_mark,
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def config_version(document: Mapping[str, Any]) -> str:
    """Hash of the normalised document (before environment interpolation, so secrets never
    influence it and workers with different secrets agree on the version)."""
    canonical = json.dumps(
        _string_keys(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _string_keys(value: Any) -> Any:
    """Mapping keys as strings, as templates see them, so json can sort mixed ``1`` and ``"a"`` keys."""
    if isinstance(value, Mapping):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


def _interpolate(
    value: Any,
    env: Mapping[str, str],
    missing: dict[str, tuple[int | str, ...]],
    secrets: set[str],
    loc: tuple[int | str, ...] = (),
) -> Any:
    """Resolve ``${VAR}`` references; ``missing`` maps each unset variable to where it is first used."""
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            if name in env:
                resolved = env[name]
            elif default is not None:
                resolved = default
            else:
                missing.setdefault(name, loc)
                return ""
            if _SECRET_NAME.search(name) and resolved:
                secrets.add(resolved)
            return resolved

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, env, missing, secrets, (*loc, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, missing, secrets, (*loc, i)) for i, v in enumerate(value)]
    return value


def _location(loc: tuple[int | str, ...]) -> tuple[str | None, str]:
    """Split a pydantic error location into (node name, dotted path)."""
    node = str(loc[1]) if len(loc) >= 2 and loc[0] == "nodes" else None
    if node is not None and loc[2:] == ("[key]",):
        return node, "name"  # the node's name itself is wrong
    parts = [str(p) for p in (loc[2:] if node else loc)]
    return node, ".".join(parts) or "(top level)"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error as one line: where, what, and the construct it was reading."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        text = f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
        if exc.context and exc.context_mark is not None:
            text += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        return text
    return " ".join(str(exc).replace('in "<unicode string>", ', "at ").split())


def parse_pipeline(text: str, *, file: str | None = None, env: Mapping[str, str] | None = None) -> Pipeline:
    """Parse, interpolate, validate and compile one pipeline document."""
    label = file or "<config>"
    if len(text.encode()) > MAX_CONFIG_BYTES:
        raise ConfigError([Problem(file=label, message=f"file is larger than {MAX_CONFIG_BYTES} bytes")])
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file=label, message=f"invalid YAML: {_yaml_problem(exc)}")]) from None
    if not isinstance(document, dict):
        kind = type(document).__name__ if document is not None else "an empty document"
        raise ConfigError([Problem(file=label, message=f"expected a mapping with 'pipeline:', got {kind}")])
    name = document.get("pipeline")
    pipeline_name = name if isinstance(name, str) else None
    missing: dict[str, tuple[int | str, ...]] = {}
    secrets: set[str] = set()
    resolved = _interpolate(document, os.environ if env is None else env, missing, secrets)
    problems = [
        Problem(
            file=label,
            pipeline=pipeline_name,
            node=_location(loc)[0],
            where=_location(loc)[1],
            message=f"environment variable {var} is not set and has no default (write ${{{var}:-default}})",
        )
        for var, loc in missing.items()
    ]
    try:
        config = PipelineConfig.model_validate(resolved)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            node, where = _location(tuple(err["loc"]))
            problems.append(
                Problem(file=label, pipeline=pipeline_name, node=node, where=where, message=err["msg"])
            )
        raise ConfigError(problems) from None
    try:
        pipeline = compile_pipeline(
            config, version=config_version(document), file=label, secrets=frozenset(secrets)
        )
    except ConfigError as exc:
        raise ConfigError(problems + exc.problems) from None
    if problems:
        raise ConfigError(problems)
    return pipeline


def config_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders into the sorted list of YAML files they hold."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in CONFIG_SUFFIXES and p.is_file()))
        elif path.exists():
            found.append(path)
        else:
            raise ConfigError([Problem(file=str(path), message="no such file or folder")])
    return found


def load_pipelines(
    paths: Iterable[str | Path], *, env: Mapping[str, str] | None = None
) -> dict[str, Pipeline]:
    """Load every pipeline of the given files and folders; raise one ConfigError with all problems."""
    pipelines, problems = load_pipelines_reporting(paths, env=env)
    if problems:
        raise ConfigError(problems)
    return pipelines


def load_pipelines_reporting(
    paths: Iterable[str | Path], *, env: Mapping[str, str] | None = None
) -> tuple[dict[str, Pipeline], list[Problem]]:
    """Load what is valid and return it with the problems of what is not."""
    pipelines: dict[str, Pipeline] = {}
    problems: list[Problem] = []
    try:
        files = config_files(paths)
    except ConfigError as exc:
        return {}, exc.problems
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
            pipeline = parse_pipeline(text, file=str(path), env=env)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(file=str(path), message=f"cannot read file: {exc}"))
            continue
        other = pipelines.get(pipeline.name)
        if other is not None:
            problems.append(
                Problem(
                    file=str(path),
                    pipeline=pipeline.name,
                    message=f"duplicate pipeline name: also defined in {other.file}",
                )
            )
            continue
        pipelines[pipeline.name] = pipeline
    return pipelines, problems
