"""Errors raised by the planner.

Hierarchy::

    GraphfetchError                 base of every error graphfetch raises on purpose
    ├── ConfigError                 a pipeline config is invalid (lists every problem)
    └── RequestError                a request cannot be planned (goes to the DLQ)

Fetch failures are :class:`connectors.errors.FetchError`; the connectors package
may not import the planner, so it has a root of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

RequestErrorCode = Literal[
    # The record itself (streams.runtime.intake).
    "empty",
    "too_large",
    "invalid_utf8",
    "invalid_json",
    "invalid_request",
    "too_many_keys",
    "too_many_fields",
    "invalid_key",
    # Its pipeline (the planner agent).
    "unknown_pipeline",
    "removed_pipeline",
    # Planning it (planner.graph).
    "unknown_field",
    "no_fields",
    "missing_key",
]
"""Why a request went to the DLQ: ``DeadLetter.code`` (docs/spec.md#dead-letter-codes)."""


class GraphfetchError(Exception):
    """Base of every error graphfetch raises on purpose."""

    retriable: ClassVar[bool] = False


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with a config, located precisely enough to fix it."""

    file: str | None
    pipeline: str | None = None
    node: str | None = None
    where: str | None = None
    message: str

    def __str__(self) -> str:
        parts = [self.file or "<config>"]
        if self.pipeline:
            parts.append(f"pipeline '{self.pipeline}'")
        if self.node:
            parts.append(f"node '{self.node}'")
        head = ", ".join(parts)
        where = f"{self.where}: " if self.where else ""
        return f"{head}: {where}{self.message}"


class ConfigError(GraphfetchError):
    """A config could not be loaded; ``problems`` holds every problem found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{count} config {noun}:\n{lines}")


class RequestError(GraphfetchError):
    """A request cannot be planned. ``code`` is a stable machine name, the message says why."""

    def __init__(self, message: str, *, code: RequestErrorCode) -> None:
        self.code = code
        super().__init__(message)
