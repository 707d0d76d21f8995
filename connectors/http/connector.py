"""The HTTP connector: one pooled ``httpx.AsyncClient`` per source."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from connectors import _validation
from connectors.base import Connector
from connectors.errors import BadResponse, ConnectorNotReady, InvalidRequest
from connectors.http.errors import error_for_exception, error_for_status
from connectors.http.request import HttpRequest, quote_segment
from connectors.http.source_config import HttpSettings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON_CONTENT = re.compile(r"^application/(?:[\w.+-]+\+)?json\b", re.IGNORECASE)


class HttpConnector(Connector[HttpSettings]):
    """GET/POST/... under one ``base_url``; JSON answers become values, others text."""

    name = "http"
    settings_model = HttpSettings
    request_model = HttpRequest
    template_escapes = {"path": quote_segment}

    def __init__(self, *, source: str, settings: Mapping[str, Any]) -> None:
        super().__init__(source=source, settings=settings)
        self._origin = httpx.URL(self.settings.base_url)
        self._prefix = self.settings.path_prefix
        self._client: httpx.AsyncClient | None = None

    def is_idempotent(self, request: Mapping[str, Any]) -> bool:
        """Safe methods only (RFC 9110): a POST may change the upstream's state."""
        return str(request.get("method", "GET")).upper() in SAFE_METHODS

    async def _start(self) -> None:
        settings = self.settings
        self._client = httpx.AsyncClient(
            headers={name: value.get_secret_value() for name, value in settings.headers.items()},
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_keepalive,
            ),
            timeout=httpx.Timeout(None, connect=settings.connect_timeout_ms / 1000.0),
            verify=settings.verify_tls,
            follow_redirects=False,
            trust_env=False,  # no proxy or .netrc from the environment: requests go to base_url only
        )

    async def _close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def _fetch(self, request: Mapping[str, Any]) -> Any:
        spec = _validation.parse(
            HttpRequest, request, error=InvalidRequest, source=self.source, prefix="request"
        )
        url = self._url_for(spec.path)
        what = f"{spec.method} request"  # not the path: it may hold a sensitive key value
        client = self._client
        if client is None:
            raise ConnectorNotReady("connector is closing; create a new one", source=self.source)
        try:
            response = await client.request(
                spec.method,
                url,
                params=spec.params or None,
                headers=spec.headers or None,
                json=spec.body if spec.has_body else None,
            )
        except httpx.HTTPError as exc:
            raise error_for_exception(exc, source=self.source, what=what) from exc
        error = error_for_status(response, source=self.source, what=what)
        if error is not None:
            raise error
        return self._decode(response, what=what)

    def _url_for(self, path: str) -> httpx.URL:
        """Append ``path`` to base_url and prove the result is still on the source."""
        url = self._origin.copy_with(path=self._prefix + path)
        same_origin = (url.scheme, url.host, url.port) == (
            self._origin.scheme,
            self._origin.host,
            self._origin.port,
        )
        if not same_origin or not url.raw_path.decode("ascii").startswith(self._prefix + "/"):
            raise InvalidRequest("path would leave the source's base_url", source=self.source)
        return url

    def _decode(self, response: httpx.Response, *, what: str) -> Any:
        if response.request.method == "HEAD" or response.status_code == 204:
            return None
        if JSON_CONTENT.match(response.headers.get("content-type", "")):
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise BadResponse(
                    f"{what} answered a JSON content type with a body that is not JSON", source=self.source
                ) from None
        return response.text
