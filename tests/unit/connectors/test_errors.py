"""The error hierarchy: retriable flags, kinds and secret-free messages."""

import pytest

from connectors import (
    FETCH_ERROR_KINDS,
    BadResponse,
    CircuitOpen,
    ConnectorNotReady,
    FetchError,
    FetchTimeout,
    InvalidRequest,
    NotFound,
    RateLimited,
    SourceConfigError,
    UnknownConnector,
    UpstreamRejected,
    UpstreamUnavailable,
)


@pytest.mark.parametrize(
    ("cls", "retriable", "kind"),
    [
        (FetchTimeout, True, "timeout"),
        (UpstreamUnavailable, True, "unavailable"),
        (RateLimited, True, "rate_limited"),
        (NotFound, False, "not_found"),
        (UpstreamRejected, False, "rejected"),
        (BadResponse, False, "bad_response"),
        (CircuitOpen, False, "circuit_open"),
        (InvalidRequest, False, "invalid_request"),
        (ConnectorNotReady, False, "not_ready"),
        (SourceConfigError, False, "source_config"),
        (UnknownConnector, False, "unknown_connector"),
        (FetchError, False, "fetch_error"),
    ],
)
def test_each_error_declares_whether_it_is_retriable(
    cls: type[FetchError], retriable: bool, kind: str
) -> None:
    error = cls("boom", source="crm")
    assert isinstance(error, FetchError)
    assert error.retriable is retriable
    assert error.kind == kind
    assert error.attempts == 0


def test_the_kinds_are_exactly_those_of_the_error_classes() -> None:
    classes: list[type[FetchError]] = [FetchError]
    for cls in classes:
        classes.extend(cls.__subclasses__())
    assert {cls.kind for cls in classes if cls.__module__ == "connectors.errors"} == FETCH_ERROR_KINDS


def test_message_names_the_source() -> None:
    assert str(NotFound("GET request answered 404", source="crm")) == "source 'crm': GET request answered 404"
    assert str(NotFound("no source")) == "no source"


def test_extra_attributes() -> None:
    assert RateLimited("slow", retry_after_s=2.5).retry_after_s == 2.5
    assert UpstreamRejected("no", status=403).status == 403
    assert CircuitOpen("open", retry_in_s=1.0).retry_in_s == 1.0


def test_unknown_connector_is_also_a_key_error_with_a_readable_message() -> None:
    error = UnknownConnector("unknown connector 'x'")
    assert isinstance(error, KeyError)
    assert isinstance(error, SourceConfigError)
    assert str(error) == "unknown connector 'x'"
