"""cache_key: canonical, hashed, secret-free, and different when the data may differ."""

from __future__ import annotations

import re

import pytest

from streams.engine.cache import cache_key, canonical_json

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def test_key_ignores_mapping_order() -> None:
    ident = "crm-ident"
    one = cache_key(source_ident=ident, request={"path": "/c/1", "params": {"a": 1, "b": [1, 2]}})
    two = cache_key(source_ident=ident, request={"params": {"b": [1, 2], "a": 1}, "path": "/c/1"})
    assert one == two
    assert HEX64.match(one)


def test_key_differs_by_request_and_by_source() -> None:
    ident, other = "crm-ident", "other-ident"
    keys = {
        cache_key(source_ident=ident, request={"path": "/c/1"}),
        cache_key(source_ident=ident, request={"path": "/c/2"}),
        cache_key(source_ident=other, request={"path": "/c/1"}),
        cache_key(source_ident=ident, request={"path": "/c/1", "params": {"x": [1, 2]}}),
        cache_key(source_ident=ident, request={"path": "/c/1", "params": {"x": [2, 1]}}),
    }
    assert len(keys) == 5


def test_canonical_json_is_compact_and_sorted() -> None:
    assert canonical_json({"b": 1, "a": {"d": None, "c": "é"}}) == '{"a":{"c":"é","d":null},"b":1}'


@pytest.mark.parametrize("request_", [{"x": object()}, {"x": float("nan")}, {"x": {1, 2}}])
def test_non_json_request_is_refused(request_: object) -> None:
    with pytest.raises(TypeError, match="not JSON"):
        cache_key(source_ident="s", request=request_)
