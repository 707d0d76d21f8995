"""Request events as a producing service builds them: ids, keys with a counter, the JSON on the wire."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence

from streams.events import RequestEvent

_COUNTER = re.compile(r"\{i(?::0(\d+)d)?\}")


def expand_counter(value: str, i: int) -> str:
    """``C{i:05d}`` -> ``C00042`` for request number 42; ``{i}`` -> ``42``."""
    return _COUNTER.sub(lambda m: f"{i:0{m.group(1)}d}" if m.group(1) else str(i), value)


def new_id_prefix() -> str:
    """A prefix for request ids, ``<prefix>-<n>``, unique enough across producers."""
    return uuid.uuid4().hex[:10]


def request_event(
    pipeline: str,
    keys: Mapping[str, str],
    *,
    request_id: str,
    fields: Sequence[str] | None = None,
    deadline_ms: float | None = None,
) -> RequestEvent:
    """The request; validated here, so a bad one fails in the caller, not in the DLQ."""
    return RequestEvent(
        request_id=request_id,
        pipeline=pipeline,
        keys=dict(keys),
        fields=list(fields) if fields else None,
        deadline_ms=deadline_ms,
    )


def encode_request(event: RequestEvent) -> bytes:
    """The request's JSON (UTF-8), optional properties left out when unset."""
    return event.model_dump_json(exclude_none=True).encode()
