"""HTTP request rules and error mapping, without a network."""

import email.utils
import time

import httpx
import pytest

from connectors import (
    BadResponse,
    FetchTimeout,
    InvalidRequest,
    NotFound,
    RateLimited,
    SourceConfigError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from connectors.http import HttpConnector, HttpRequest
from connectors.http.errors import error_for_exception, error_for_status, retry_after_s
from connectors.http.request import check_path, quote_segment


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/customers/C042",
        "/customers/a%2Fb%3Fc%3Dd%23e",
        "/x/..%2F..%2Fadmin",
        "/x/%252e%252e",
        "/x/a..b",
        "/x/...",
    ],
)
def test_safe_paths_pass(path: str) -> None:
    check_path(path)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("x", "start with '/'"),
        ("http://evil.example/", "start with '/'"),
        ("//evil.example", "'//'"),
        ("/a\\b", "backslashes"),
        ("/a?b=1", "'?'"),
        ("/a#b", "'?' or '#'"),
        ("/a b", "spaces"),
        ("/a\r\nb", "control"),
        ("/a/%zz", "percent-escape"),
        ("/a/%2", "percent-escape"),
        ("/a/../b", "segments"),
        ("/a/./b", "segments"),
        ("/a/%2e%2E/b", "segments"),
        ("/a/%2e", "segments"),
        ("/..", "segments"),
    ],
)
def test_paths_that_could_leave_the_source_are_rejected(path: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_path(path)


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("a/b?c=d#e", "a%2Fb%3Fc%3Dd%23e"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("...", "..."),
        ("C042", "C042"),
        ("a b%", "a%20b%25"),
        ("ü", "%C3%BC"),
    ],
)
def test_a_value_substituted_into_a_path_stays_one_segment(value: str, quoted: str) -> None:
    assert HttpConnector.template_escapes["path"](value) == quote_segment(value) == quoted


def test_request_defaults_and_method_case() -> None:
    spec = HttpRequest.model_validate({"path": "/x", "method": "post"})
    assert spec.method == "POST"
    assert not spec.has_body
    assert HttpRequest.model_validate({"path": "/x", "json": None}).has_body


def test_invalid_request_message_names_the_field_but_not_the_value() -> None:
    with pytest.raises(InvalidRequest) as caught:
        HttpConnector.validate_request({"path": "/x", "headers": {"Authorization": "Bearer tok\r\nen"}})
    assert "request.headers" in str(caught.value)
    assert "tok" not in str(caught.value)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"base_url": "http://user:pw@h/api"}, "credentials"),
        ({"base_url": "http://h/api#x"}, "fragment"),
        ({"base_url": "not a url"}, "base_url"),
        ({"base_url": "http://h", "max_keepalive": 200}, "max_keepalive"),
        ({"base_url": "http://h", "headers": {"Bad Name": "v"}}, "headers"),
    ],
)
def test_bad_http_settings(settings: dict[str, object], field: str) -> None:
    with pytest.raises(SourceConfigError, match=field) as caught:
        HttpConnector(source="crm", settings=settings)
    assert ":pw@" not in str(caught.value)


def response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", "http://h/x?token=t"))


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, NotFound),
        (400, UpstreamRejected),
        (401, UpstreamRejected),
        (408, UpstreamUnavailable),
        (429, RateLimited),
        (500, UpstreamUnavailable),
        (502, UpstreamUnavailable),
        (301, BadResponse),
    ],
)
def test_status_mapping(status: int, error: type[Exception]) -> None:
    assert type(error_for_status(response(status), source="s", what="GET request")) is error


def test_2xx_is_not_an_error() -> None:
    assert error_for_status(response(200), source="s", what="GET request") is None
    assert error_for_status(response(204), source="s", what="GET request") is None


def test_retry_after_in_seconds_and_as_http_date() -> None:
    assert retry_after_s(response(429, {"Retry-After": "3"})) == 3.0
    assert retry_after_s(response(429, {"Retry-After": "-3"})) == 0.0
    assert retry_after_s(response(429)) is None
    assert retry_after_s(response(429, {"Retry-After": "soon"})) is None
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= (retry_after_s(response(429, {"Retry-After": later})) or 0) <= 60


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (httpx.ConnectTimeout("t"), FetchTimeout),
        (httpx.ReadTimeout("t"), FetchTimeout),
        (httpx.PoolTimeout("t"), FetchTimeout),
        (httpx.ConnectError("refused"), UpstreamUnavailable),
        (httpx.ReadError("reset"), UpstreamUnavailable),
        (httpx.RemoteProtocolError("bad"), UpstreamUnavailable),
        (httpx.LocalProtocolError("bad"), InvalidRequest),
        (httpx.DecodingError("gzip"), BadResponse),
    ],
)
def test_httpx_exceptions_are_converted(exc: httpx.HTTPError, error: type[Exception]) -> None:
    converted = error_for_exception(exc, source="s", what="GET request")
    assert type(converted) is error
    assert "GET request failed" in str(converted)
