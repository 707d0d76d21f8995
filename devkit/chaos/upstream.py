"""The demo upstreams' fault knobs, turned from the chaos runner (``PUT`` / ``DELETE /_control``)."""

from __future__ import annotations

import httpx

_TIMEOUT_S = 5.0


class ControlError(RuntimeError):
    """The demo upstreams refused a knob change; the message is their answer."""


class UpstreamControl:
    """Changes the knobs of the demo upstreams at ``url`` (see :mod:`devkit.demo.control`)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def set(self, service: str, **knobs: float | bool) -> None:
        """Merge ``knobs`` into ``service``'s (``default``: every service)."""
        await self._call("PUT", f"/_control/{service}", json=knobs)

    async def reset(self) -> None:
        """Every service back to its start knobs."""
        await self._call("DELETE", "/_control")

    async def _call(self, method: str, path: str, json: object = None) -> None:
        async with httpx.AsyncClient(trust_env=False, timeout=_TIMEOUT_S) as client:
            response = await client.request(method, f"{self.url}{path}", json=json)
        if response.status_code != 200:
            raise ControlError(f"{method} {path}: {response.status_code} {response.text}")
