"""Turn pydantic validation errors into messages that never echo the input.

pydantic's default ``str(ValidationError)`` repeats the offending value, which
may be a token or a DSN password; these helpers keep only where and what.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from connectors.errors import FetchError

ModelT = TypeVar("ModelT", bound=BaseModel)


def describe(exc: ValidationError, *, prefix: str = "") -> str:
    """One line per problem: ``prefix.location: message``, without the input value."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(str(part) for part in (prefix, *err["loc"]) if part != "")
        lines.append(f"{loc}: {err['msg']}" if loc else str(err["msg"]))
    return "; ".join(lines)


def parse(
    model: type[ModelT],
    data: Mapping[str, Any],
    *,
    error: type[FetchError],
    source: str | None,
    prefix: str = "",
) -> ModelT:
    """Validate ``data`` with ``model``, raising ``error`` with a secret-free message."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise error(describe(exc, prefix=prefix), source=source) from None
