"""Typed fetch errors: what went wrong, and whether trying again may help.

Every connector converts its library's exceptions (httpx, SQLAlchemy, asyncpg)
into these classes at its boundary, so the runtime decides on retries, breaker
accounting and error reports from ``retriable`` and ``kind`` alone::

    class                           retriable  kind
    FetchError                      no         fetch_error       any other failure of a connector
     ├── FetchTimeout               yes        timeout           an attempt ran out of time
     ├── UpstreamUnavailable        yes        unavailable       connection failed, 5xx, 408
     ├── RateLimited                yes        rate_limited      429; carries retry_after_s
     ├── NotFound                   no         not_found         404
     ├── UpstreamRejected           no         rejected          other 4xx (or a refused login); carries status
     ├── BadResponse                no         bad_response      the answer could not be decoded
     ├── CircuitOpen                no         circuit_open      refused without calling the upstream
     ├── LoadShed                   no         shed              no slot of the limit in time for the deadline
     ├── InvalidRequest             no         invalid_request   the request spec is wrong or leaves the source
     ├── ConnectorNotReady          no         not_ready         fetch before start() or after close()
     └── SourceConfigError          no         source_config     bad source settings (raised at construction)
          └── UnknownConnector      no         unknown_connector no connector has that name (also a KeyError)

``FetchError`` is its own root: the connectors package imports neither the
planner nor the runtime. Messages never contain secrets (header values,
tokens, DSN passwords, query strings), so they may be logged and put in
profiles as they are.
"""

from __future__ import annotations

from typing import ClassVar, Literal, get_args

FetchErrorKind = Literal[
    "fetch_error",
    "timeout",
    "unavailable",
    "rate_limited",
    "not_found",
    "rejected",
    "bad_response",
    "circuit_open",
    "shed",
    "invalid_request",
    "not_ready",
    "source_config",
    "unknown_connector",
]
"""Every ``kind`` a fetch error can have (the table above; docs/spec.md#error-kinds).
A connector's own error class takes the kind of the class it subclasses."""

FETCH_ERROR_KINDS: frozenset[str] = frozenset(get_args(FetchErrorKind))


class FetchError(Exception):
    """Base of every error a connector or the resilience layer raises."""

    retriable: ClassVar[bool] = False
    kind: ClassVar[FetchErrorKind] = "fetch_error"

    attempts: int = 0
    """Upstream attempts made; set by ``ResilientSource.call`` (0: none was made)."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source

    def __str__(self) -> str:
        if self.source is None:
            return self.message
        return f"source '{self.source}': {self.message}"


class FetchTimeout(FetchError):
    """An attempt did not finish within its timeout (or the request's deadline)."""

    retriable = True
    kind = "timeout"


class UpstreamUnavailable(FetchError):
    """The upstream could not be reached or answered 5xx/408: it may recover."""

    retriable = True
    kind = "unavailable"


class RateLimited(FetchError):
    """The upstream asked us to slow down (HTTP 429)."""

    retriable = True
    kind = "rate_limited"

    def __init__(
        self, message: str, *, source: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, source=source)
        self.retry_after_s = retry_after_s


class NotFound(FetchError):
    """The upstream has no such resource (HTTP 404); asking again will not change that."""

    kind = "not_found"


class UpstreamRejected(FetchError):
    """The upstream refused the request (a 4xx other than 404/408/429, or a refused login)."""

    kind = "rejected"

    def __init__(self, message: str, *, source: str | None = None, status: int | None = None) -> None:
        super().__init__(message, source=source)
        self.status = status


class BadResponse(FetchError):
    """The upstream answered, but the answer cannot be turned into a JSON value."""

    kind = "bad_response"


class CircuitOpen(FetchError):
    """The source's circuit breaker is open: refused at once, without calling the upstream."""

    kind = "circuit_open"

    def __init__(self, message: str, *, source: str | None = None, retry_in_s: float | None = None) -> None:
        super().__init__(message, source=source)
        self.retry_in_s = retry_in_s


class LoadShed(FetchError):
    """A caller waiting for a slot of the source's concurrency limit was dropped from the queue once
    its deadline could no longer be met (the deadline minus the source's expected latency had
    passed): refused at once, without calling the upstream, so the request is answered now
    instead of after a fetch that could not finish in time. Neither retried within the call nor
    counted by the breaker: the source did nothing wrong."""

    kind = "shed"

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        waited_ms: float = 0.0,
        left_ms: float = 0.0,
        expected_ms: float = 0.0,
    ) -> None:
        super().__init__(message, source=source)
        self.waited_ms = waited_ms
        self.left_ms = left_ms
        self.expected_ms = expected_ms


class InvalidRequest(FetchError):
    """The request spec is malformed, or would leave the source's host or path prefix."""

    kind = "invalid_request"


class ConnectorNotReady(FetchError):
    """The connector is not started, or already closed: a wiring bug, not an upstream problem."""

    kind = "not_ready"


class SourceConfigError(FetchError):
    """A source's settings are invalid; raised when the connector is built."""

    kind: ClassVar[FetchErrorKind] = "source_config"  # declared again: a subclass has a kind of its own


class UnknownConnector(SourceConfigError, KeyError):
    """No connector is registered under the name a source asks for."""

    kind = "unknown_connector"
