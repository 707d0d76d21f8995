"""Decoding request events at the edge: bytes in, a RequestEvent or a RequestError with a precise reason.

Every check that protects the workers from hostile input lives here: size,
encoding, JSON depth, types, counts and key values. What fails goes to the DLQ.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from planner import SCHEMA_VERSION, RequestError
from streams.events import RequestEvent

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_KEY_VALUE = 1024


def derived_request_id(topic: str, partition: int, offset: int) -> str:
    """Deterministic id of a request that carries none: a replay yields the same id."""
    return f"{topic}-{partition}-{offset}"


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(message)"
        parts.append(f"{loc}: {err['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def decode_request(raw: bytes | None, *, max_bytes: int, max_fields: int, max_keys: int) -> RequestEvent:
    """Decode and check one request value; raise RequestError(code=...) saying what is wrong."""
    if raw is None:
        raise RequestError("the record has no value (a tombstone); a request is a JSON object", code="empty")
    if len(raw) > max_bytes:
        raise RequestError(
            f"the request is {len(raw)} bytes, more than the limit of {max_bytes} "
            "(setting GRAPHFETCH_MAX_MESSAGE_BYTES)",
            code="too_large",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            f"the request is not valid UTF-8 (byte {exc.start})", code="invalid_utf8"
        ) from None
    if "\x00" in text:
        raise RequestError("the request contains a NUL character", code="invalid_request")
    try:
        event = RequestEvent.model_validate_json(text)
    except ValidationError as exc:
        newer = _from_a_newer_contract(text, exc)
        if newer is not None:
            return _checked(newer, max_fields=max_fields, max_keys=max_keys)
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            detail = exc.errors()[0]["msg"]
            raise RequestError(f"the request is not valid JSON: {detail}", code="invalid_json") from None
        raise RequestError(f"the request is invalid: {_first_errors(exc)}", code="invalid_request") from None
    return _checked(event, max_fields=max_fields, max_keys=max_keys)


def _from_a_newer_contract(text: str, exc: ValidationError) -> RequestEvent | None:
    """The request read as this version reads it, when unknown properties of a later version are all
    that is wrong.

    A request whose ``schema_version`` is above :data:`planner.SCHEMA_VERSION` comes from a newer
    producer; the properties this worker does not know are additions (a version only adds), so they
    are ignored and the rest is validated as usual. Any other error stays an error.
    """
    if not all(e["type"] == "extra_forbidden" and len(e["loc"]) == 1 for e in exc.errors()):
        return None
    event = RequestEvent.model_validate_json(text, extra="ignore")
    return event if event.schema_version > SCHEMA_VERSION else None


def _checked(event: RequestEvent, *, max_fields: int, max_keys: int) -> RequestEvent:
    """``event`` if its counts and key values are within the limits; else the RequestError saying which."""
    if len(event.keys) > max_keys:
        raise RequestError(f"{len(event.keys)} keys, more than the limit of {max_keys}", code="too_many_keys")
    if event.fields is not None and len(event.fields) > max_fields:
        raise RequestError(
            f"{len(event.fields)} fields, more than the limit of {max_fields}", code="too_many_fields"
        )
    for name, value in event.keys.items():
        if len(value) > MAX_KEY_VALUE:
            raise RequestError(
                f"key '{name}' is {len(value)} characters, more than {MAX_KEY_VALUE}", code="invalid_key"
            )
        if _CONTROL.search(value) or _CONTROL.search(name):
            raise RequestError(f"key '{name}' contains a control character", code="invalid_key")
    return event
