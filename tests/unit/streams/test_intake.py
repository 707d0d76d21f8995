"""Decoding request events: every hostile input gets a precise reason, nothing else escapes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner import RequestError
from streams.events import RequestEvent
from streams.runtime.intake import decode_request

LIMITS = {"max_bytes": 1_000_000, "max_fields": 8, "max_keys": 4}


def _decode(raw: bytes | None) -> RequestEvent:
    return decode_request(raw, **LIMITS)


@pytest.mark.parametrize(
    ("raw", "code", "reason"),
    [
        (b"not json", "invalid_json", "not valid JSON"),
        (b"\xff\xfe\x00", "invalid_utf8", "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json", "recursion limit"),
        (b"x" * 1_000_001, "too_large", "limit of 1000000"),
        (None, "empty", "no value"),
        (b'{"pipeline": 7, "keys": {}}', "invalid_request", "pipeline: Input should be a valid string"),
        (
            b'{"pipeline": "p", "keys": {"id": 1}}',
            "invalid_request",
            "keys.id: Input should be a valid string",
        ),
        (b'{"pipeline": "p"}', "invalid_request", "keys: Field required"),
        (b'{"pipeline": "p", "keys": {}, "extra": 1}', "invalid_request", "extra: Extra inputs"),
        (b'{"pipeline": "p", "keys": {"id": "a\\u0000b"}}', "invalid_key", "control character"),
        (b'{"pipeline": "p\x00", "keys": {}}', "invalid_request", "NUL character"),
        (b'{"pipeline": "p", "keys": {"id": "a\\r\\nHost: evil"}}', "invalid_key", "control character"),
        (
            b'{"pipeline": "p", "keys": {"a": "1", "b": "1", "c": "1", "d": "1", "e": "1"}}',
            "too_many_keys",
            "limit of 4",
        ),
        (
            json.dumps({"pipeline": "p", "keys": {}, "fields": ["f"] * 9}).encode(),
            "too_many_fields",
            "limit of 8",
        ),
        (json.dumps({"pipeline": "p", "keys": {"id": "x" * 2000}}).encode(), "invalid_key", "more than 1024"),
        (b'{"pipeline": "p", "keys": {}, "deadline_ms": -5}', "invalid_request", "deadline_ms"),
    ],
)
def test_hostile_request_is_refused_with_a_precise_reason(raw: bytes | None, code: str, reason: str) -> None:
    with pytest.raises(RequestError, match=reason) as caught:
        _decode(raw)
    assert caught.value.code == code


def test_valid_request_decodes() -> None:
    event = _decode(b'{"pipeline": "customer360", "keys": {"customer_id": "C00042"}, "fields": ["name"]}')
    assert event.keys == {"customer_id": "C00042"}
    assert event.request_id is None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_fuzzed_bytes_decode_or_raise_request_error(raw: bytes) -> None:
    try:
        _decode(raw)
    except RequestError as exc:
        assert exc.code  # noqa: PT017 - fuzzing: success and a RequestError are both fine


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["pipeline", "keys", "fields", "deadline_ms", "request_id", "x"]), json_values
    )
)
def test_fuzzed_json_objects_decode_or_raise_request_error(obj: dict[str, object]) -> None:
    try:
        event = _decode(json.dumps(obj).encode())
    except RequestError as exc:
        assert exc.code  # noqa: PT017 - fuzzing: success and a RequestError are both fine
    else:
        assert isinstance(event.keys, dict)
