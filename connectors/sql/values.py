"""Rows to JSON-able values: the profile is JSON, so database types are converted here."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import ipaddress
import math
import uuid
from collections.abc import Mapping
from typing import Any

from connectors.errors import BadResponse


def to_json(value: Any, *, column: str, source: str) -> Any:
    """Convert one column value; raise ``BadResponse`` naming the column for a type JSON cannot hold."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): to_json(v, column=column, source=source) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v, column=column, source=source) for v in value]
    raise BadResponse(
        f"column '{column}' has a value of type {type(value).__name__} that cannot become JSON; "
        "cast it in the query, e.g. CAST(x AS TEXT)",
        source=source,
    )


def row_to_json(row: Mapping[Any, Any], *, source: str) -> dict[str, Any]:
    return {str(name): to_json(value, column=str(name), source=source) for name, value in row.items()}
