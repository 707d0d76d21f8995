"""The HTTP connector against a real HTTP server: results, status mapping and the shared contract."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from connectors import (
    BadResponse,
    FetchError,
    NotFound,
    RateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from connectors.http import HttpConnector
from connectors.testing import ConnectorContract

pytestmark = pytest.mark.integration


class TestHttpConnectorContract(ConnectorContract):
    connector_class = HttpConnector
    bad_settings = (
        ({}, "base_url"),
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"base_url": "http://127.0.0.1/api?token=x"}, "base_url"),
        ({"base_url": "http://127.0.0.1", "max_connections": 0}, "max_connections"),
        ({"base_url": "http://127.0.0.1", "headers": {"X-A": "a\r\nX-B: b"}}, "headers"),
    )
    bad_requests = (
        {},
        {"path": "relative"},
        {"path": "/x", "method": "TRACE"},
        {"path": "/x", "headers": {"X-A": 1}},
        {"path": "/x", "extra": True},
        {"path": "http://evil.example/"},
        {"path": "/../admin"},
    )
    config_requests = (
        {"path": "/customers/{keys.customer_id}"},
        {"path": "/orders", "params": {"account": "{customer.account_id}"}},
        {"method": "post", "path": "/risk", "json": {"id": "{keys.id}"}, "headers": {"X-Id": "{keys.id}"}},
    )

    @pytest.fixture
    def settings(self, upstream: Any) -> Mapping[str, Any]:
        return {"base_url": upstream.base_url}

    @pytest.fixture
    def ok_request(self) -> Mapping[str, Any]:
        return {"path": "/ok"}


@pytest.fixture
async def http(upstream: Any) -> Any:
    async with HttpConnector(
        source="crm",
        settings={"base_url": upstream.base_url, "headers": {"Authorization": "Bearer s3cret-token"}},
    ) as connector:
        yield connector


async def test_json_body_becomes_a_value(http: HttpConnector) -> None:
    assert await http.fetch({"path": "/ok"}) == {"ok": True, "items": [1, 2, 3]}


async def test_text_body_becomes_a_string(http: HttpConnector) -> None:
    assert await http.fetch({"path": "/text"}) == "plain words"


async def test_one_client_is_reused_across_fetches(http: HttpConnector) -> None:
    client = http._client
    await http.fetch({"path": "/ok"})
    await http.fetch({"path": "/ok"})
    assert http._client is client is not None


async def test_source_headers_params_and_json_body_are_sent(http: HttpConnector) -> None:
    seen = await http.fetch(
        {
            "method": "post",
            "path": "/echo/x",
            "params": {"a": "1 2", "many": [1, 2], "flag": True},
            "headers": {"X-Request": "yes"},
            "json": {"k": "v"},
        }
    )
    assert seen["method"] == "POST"
    assert seen["headers"]["authorization"] == "Bearer s3cret-token"
    assert seen["headers"]["x-request"] == "yes"
    assert seen["params"] == [["a", "1 2"], ["many", "1"], ["many", "2"], ["flag", "true"]]
    assert seen["body"] == '{"k":"v"}'


@pytest.mark.parametrize(
    ("code", "error", "retriable"),
    [
        (404, NotFound, False),
        (400, UpstreamRejected, False),
        (403, UpstreamRejected, False),
        (408, UpstreamUnavailable, True),
        (500, UpstreamUnavailable, True),
        (503, UpstreamUnavailable, True),
        (302, BadResponse, False),
    ],
)
async def test_status_maps_to_typed_error(
    http: HttpConnector, key: str, code: int, error: type[Exception], retriable: bool
) -> None:
    with pytest.raises(error) as caught:
        await http.fetch({"path": f"/status/{code}/{key}"})
    assert type(caught.value) is error
    assert caught.value.retriable is retriable  # type: ignore[attr-defined]
    assert str(code) in str(caught.value)


async def test_rejected_error_carries_status(http: HttpConnector, key: str) -> None:
    with pytest.raises(UpstreamRejected) as caught:
        await http.fetch({"path": f"/status/422/{key}"})
    assert caught.value.status == 422


async def test_429_carries_retry_after(http: HttpConnector, key: str) -> None:
    with pytest.raises(RateLimited) as caught:
        await http.fetch({"path": f"/ratelimited/{key}", "params": {"retry_after": "7"}})
    assert caught.value.retry_after_s == 7.0
    assert caught.value.retriable


async def test_json_content_type_with_broken_body_is_bad_response(http: HttpConnector) -> None:
    with pytest.raises(BadResponse, match="not JSON"):
        await http.fetch({"path": "/not-json"})


async def test_head_returns_none(http: HttpConnector) -> None:
    assert await http.fetch({"method": "HEAD", "path": "/echo/x"}) is None


async def test_connection_refused_is_unavailable_and_retriable(unused_tcp_port: int) -> None:
    async with HttpConnector(
        source="down", settings={"base_url": f"http://127.0.0.1:{unused_tcp_port}"}
    ) as c:
        with pytest.raises(UpstreamUnavailable) as caught:
            await c.fetch({"path": "/x", "params": {"token": "query-secret"}})
    assert caught.value.retriable
    assert "query-secret" not in str(caught.value)


async def test_errors_never_contain_header_secrets(http: HttpConnector, key: str) -> None:
    for path in (f"/status/500/{key}", f"/status/401/{key}", "/not-json"):
        with pytest.raises(FetchError) as caught:
            await http.fetch({"path": path, "params": {"token": "query-secret"}})
        assert "s3cret-token" not in str(caught.value)
        assert "query-secret" not in str(caught.value)


def test_settings_repr_masks_header_values() -> None:
    connector = HttpConnector(
        source="crm",
        settings={"base_url": "http://127.0.0.1/api", "headers": {"Authorization": "Bearer s3cret"}},
    )
    assert "s3cret" not in repr(connector.settings)
    assert "s3cret" not in str(connector.settings)
