"""A node's HTTP request spec, and the rules that keep it on its source.

A value substituted into ``path`` is escaped by :func:`quote_segment` (the
connector's ``template_escapes``, applied by the planner as it renders), so a
key such as ``a/b?c=d#e`` arrives as ``a%2Fb%3Fc%3Dd%23e``: one path segment, and
``..`` arrives as ``%2E%2E``. The connector sends the
path as it is. What it refuses is anything that could move the request off
the source: an absolute or scheme-relative URL, backslashes, ``.``/``..``
segments (also percent-encoded, since servers and proxies decode them), a
query or fragment in the path, malformed escapes and control characters.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

from connectors.http.source_config import check_header

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
Scalar = StrictStr | StrictInt | StrictFloat | StrictBool | None

MALFORMED_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
UNSAFE_PATH_CHARS = re.compile(r"[\x00-\x20\x7f\\?#]")
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
"""Headers that would change where or how the request is framed; httpx sets them."""


def quote_segment(value: str) -> str:
    """Percent-encode a value substituted into a URL path: it stays one segment, never ``.``/``..``."""
    if value in {".", ".."}:
        return value.replace(".", "%2E")
    return quote(value, safe="")


def check_path(path: str) -> None:
    """Raise ``ValueError`` unless ``path`` can only name a resource under the source's base_url."""
    if not path.startswith("/"):
        raise ValueError("path must start with '/' (it is appended to the source's base_url)")
    if path.startswith("//"):
        raise ValueError("path must not start with '//' (that names another host)")
    if "\\" in path:
        raise ValueError("path must not contain backslashes")
    if "?" in path or "#" in path:
        raise ValueError("path must not contain '?' or '#': put query parameters in 'params'")
    if UNSAFE_PATH_CHARS.search(path):
        raise ValueError("path must not contain spaces or control characters: percent-encode them")
    if MALFORMED_ESCAPE.search(path):
        raise ValueError("path has a '%' that does not start a percent-escape like '%2F'")
    if any(unquote(segment) in (".", "..") for segment in path.split("/")):
        raise ValueError("path must not contain '.' or '..' segments (also percent-encoded)")


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class HttpRequest(BaseModel):
    """What one HTTP node asks for."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    method: Annotated[Method, BeforeValidator(_upper)] = "GET"
    path: StrictStr = Field(description="Appended to base_url; template values already percent-encoded.")
    params: dict[StrictStr, Scalar | list[Scalar]] = Field(
        default_factory=dict, description="Query parameters, encoded by httpx."
    )
    headers: dict[StrictStr, StrictStr] = Field(default_factory=dict, description="Extra request headers.")
    body: Any = Field(None, alias="json", description="JSON body.")

    @field_validator("path")
    @classmethod
    def _path_stays_on_source(cls, value: str) -> str:
        check_path(value)
        return value

    @field_validator("headers")
    @classmethod
    def _headers_are_safe(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header_value in value.items():
            check_header(name, header_value)
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by the connector and cannot be overridden")
        return value

    @property
    def has_body(self) -> bool:
        return "body" in self.model_fields_set
