"""Map HTTP statuses and httpx exceptions to :mod:`connectors.errors` (httpx's own style of boundary).

Messages name the method and the path but never the query string or headers,
which may carry tokens.
"""

from __future__ import annotations

import email.utils
import time

import httpx

from connectors.errors import (
    BadResponse,
    FetchError,
    FetchTimeout,
    InvalidRequest,
    NotFound,
    RateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)


def error_for_status(response: httpx.Response, *, source: str, what: str) -> FetchError | None:
    """The typed error for a non-2xx response, or ``None`` for a success."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    message = f"{what} answered {status} {response.reason_phrase}".rstrip()
    if status == 404:
        return NotFound(message, source=source)
    if status == 429:
        return RateLimited(message, source=source, retry_after_s=retry_after_s(response))
    if status == 408 or status >= 500:
        return UpstreamUnavailable(message, source=source)
    if 400 <= status < 500:
        return UpstreamRejected(message, source=source, status=status)
    return BadResponse(
        f"{message}; redirects are not followed: point base_url at the final location", source=source
    )


def retry_after_s(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds from now (delay-seconds or an HTTP-date); ``None`` if absent or bad."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_for_exception(exc: httpx.HTTPError, *, source: str, what: str) -> FetchError:
    """Convert an httpx exception raised while sending ``what``."""
    detail = f"{what} failed: {type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, httpx.TimeoutException):
        return FetchTimeout(detail, source=source)
    if isinstance(exc, httpx.DecodingError):
        return BadResponse(detail, source=source)
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        return InvalidRequest(detail, source=source)
    if isinstance(exc, httpx.TransportError):
        return UpstreamUnavailable(detail, source=source)
    return BadResponse(detail, source=source)
