"""Hostile key values, encoded the planner's way, reach the server intact and never move the request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from connectors import InvalidRequest, ResilientSource, RetryPolicy
from connectors.http import HttpConnector
from planner import parse_pipeline

pytestmark = pytest.mark.integration

HOSTILE = [
    "a/b?c=d#e",
    "../../admin",
    "..",
    "%2e%2e",
    "%2e%2e%2fadmin",
    "http://evil.example/",
    "//evil.example/x",
    "\\\\evil.example\\x",
    "a\r\nX-Injected: 1",
    "名前 with spaces",
    "@evil.example",
]


def planner_path(value: str) -> str:
    """The planner's convention: each template value is quoted with ``safe=""``."""
    return "/echo/" + quote(value, safe="")


@pytest.fixture
async def http(upstream: Any) -> AsyncIterator[HttpConnector]:
    async with HttpConnector(source="crm", settings={"base_url": upstream.base_url}) as connector:
        yield connector


@pytest.mark.parametrize("value", [v for v in HOSTILE if v not in (".", "..")])
async def test_encoded_key_arrives_intact_on_the_same_path_and_host(
    http: HttpConnector, upstream: Any, value: str
) -> None:
    seen = await http.fetch({"path": planner_path(value)})
    assert seen["rest"] == value
    assert seen["raw_path"] == "/api" + planner_path(value)
    assert seen["query"] == ""
    assert seen["headers"]["host"] == upstream.base_url.removeprefix("http://").removesuffix("/api")
    assert "x-injected" not in seen["headers"]


@pytest.mark.parametrize("value", [".", ".."])
async def test_dot_segment_keys_are_rejected(http: HttpConnector, value: str) -> None:
    with pytest.raises(InvalidRequest, match="segments"):
        await http.fetch({"path": planner_path(value)})


async def test_hostile_value_in_params_stays_one_parameter(http: HttpConnector) -> None:
    seen = await http.fetch({"path": "/echo/q", "params": {"q": "a&b=c#d"}})
    assert seen["params"] == [["q", "a&b=c#d"]]


@pytest.mark.parametrize(
    "path",
    [
        "http://evil.example/",
        "https://evil.example/x",
        "//evil.example/x",
        "/\\evil.example",
        "/../admin",
        "/echo/../../admin",
        "/%2e%2e/admin",
        "/%2E%2e/admin",
        "/echo/./x",
        "/echo/x?admin=1",
        "/echo/x#frag",
        "/echo/%zz",
        "/echo/a b",
        "/echo/\r\nHost: evil",
        "",
        "echo",
    ],
)
async def test_path_leaving_base_url_is_rejected_before_any_request(
    http: HttpConnector, upstream: Any, path: str
) -> None:
    before = dict(upstream.hits)
    with pytest.raises(InvalidRequest):
        await http.fetch({"path": path})
    assert dict(upstream.hits) == before


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Key": "a\r\nX-Injected: 1"},
        {"X-Key": "a\nX-Injected: 1"},
        {"X-Key\r\nX-Injected": "1"},
        {"X-Key": 42},
        {"Host": "evil.example"},
        {"Content-Length": "0"},
    ],
)
async def test_header_injection_is_rejected(
    http: HttpConnector, upstream: Any, headers: dict[str, Any]
) -> None:
    before = upstream.hits["echo"]
    with pytest.raises(InvalidRequest):
        await http.fetch({"path": "/echo/x", "headers": headers})
    assert upstream.hits["echo"] == before


async def test_invalid_request_is_not_retried_and_does_not_trip_the_breaker(http: HttpConnector) -> None:
    source = ResilientSource.from_settings(http, {"breaker": {"failure_threshold": 1}})
    for _ in range(3):
        with pytest.raises(InvalidRequest) as caught:
            await source.call({"path": "/../admin"}, timeout_ms=1000, retry=RetryPolicy(retries=3))
        assert caught.value.attempts == 1
    outcome = await source.call({"path": "/ok"}, timeout_ms=1000, retry=RetryPolicy(retries=0))
    assert outcome.value["ok"] is True


def _outline(path: str) -> Any:
    """The node's request as a connector checks it at load time: a stand-in for each expression."""
    document = {
        "pipeline": "p",
        "output": {"topic": "p.out", "key": "keys.id"},
        "sources": {"api": {"connector": "http", "base_url": "http://127.0.0.1:1"}},
        "nodes": {"a": {"source": "api", "request": {"path": path}}},
        "fields": {"a": "a"},
    }
    return parse_pipeline(yaml.safe_dump(document), file="p.yaml", env={}).nodes["a"].request_outline()


def test_validate_request_checks_the_literal_parts_of_a_templated_path() -> None:
    HttpConnector.validate_request(_outline("/customers/{keys.customer_id}/orders/{join(',', keys.ids)}"))
    for path in ("{keys.url}", "/{keys.a}/../x", "//{keys.host}/x", "/x?token={keys.t}"):
        with pytest.raises(InvalidRequest):
            HttpConnector.validate_request(_outline(path))
