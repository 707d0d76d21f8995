"""Settings of an HTTP source, and checks shared with request headers."""

from __future__ import annotations

import re

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
"""An RFC 9110 token: what a header name may be."""
FORBIDDEN_VALUE_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
"""Control characters (CR and LF above all) that would split or smuggle a header."""


def check_header(name: str, value: str) -> None:
    """Reject header names that are not tokens and values that could inject another header."""
    if not HEADER_NAME.match(name):
        raise ValueError(f"header name {name!r} is not a valid HTTP token")
    if FORBIDDEN_VALUE_CHARS.search(value):
        raise ValueError(f"header {name!r} has a control character (CR/LF) in its value")


class HttpSettings(BaseModel):
    """An HTTP source: where it is, its default headers and its connection pool."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(
        description="http(s) URL every request path is appended to; requests stay under it."
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Sent with every request; values are secret (masked when printed)."
    )
    max_connections: int = Field(100, ge=1, description="Connections the pool may open.")
    max_keepalive: int = Field(
        100, ge=0, description="Idle connections the pool keeps (as many as it opens: no churn)."
    )
    verify_tls: bool = Field(True, description="Check the server's TLS certificate.")
    connect_timeout_ms: float = Field(1000, gt=0, description="Time to open a connection.")

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL:
            raise ValueError("base_url is not a valid URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("base_url must be an absolute http:// or https:// URL with a host")
        if url.query or url.fragment:
            raise ValueError(
                "base_url must not have a query or fragment: put parameters in a node's 'params'"
            )
        if url.userinfo:
            raise ValueError("base_url must not hold credentials: put them in 'headers'")
        return value

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, secret in value.items():
            check_header(name, secret.get_secret_value())
        return value

    @model_validator(mode="after")
    def _keepalive_within_pool(self) -> HttpSettings:
        if self.max_keepalive > self.max_connections:
            raise ValueError("max_keepalive cannot be more than max_connections")
        return self

    @property
    def path_prefix(self) -> str:
        """``base_url``'s path, percent-encoded, without a trailing slash: requests stay under it."""
        return httpx.URL(self.base_url).raw_path.decode("ascii").rstrip("/")
