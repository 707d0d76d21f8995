"""A client of the demo upstreams' ``/_control`` and ``/_stats`` endpoints (:mod:`devkit.demo.control`).

The chaos runner turns fault knobs with it; the bench and the chaos runner read
the upstreams' own call counters, so extra calls are what the upstreams saw,
not what graphfetch believes it sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

_TIMEOUT_S = 5.0


class ControlError(RuntimeError):
    """The demo upstreams refused a request; the message is their answer."""


class DemoControl:
    """The knobs and counters of the demo upstreams at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def set(self, service: str, **knobs: float | bool) -> None:
        """Merge ``knobs`` into ``service``'s (``default``: every service)."""
        await self._call("PUT", f"/_control/{service}", json=knobs)

    async def reset(self) -> None:
        """Every service back to its start knobs."""
        await self._call("DELETE", "/_control")

    async def calls(self, services: Iterable[str] | None = None) -> int:
        """Calls the upstreams received since their counters were last zeroed (None: every service)."""
        stats: dict[str, dict[str, int]] = await self._call("GET", "/_stats")
        chosen = stats if services is None else services
        return sum(int(stats[service]["calls"]) for service in chosen)

    async def reset_calls(self) -> None:
        await self._call("DELETE", "/_stats")

    async def _call(self, method: str, path: str, json: object = None) -> Any:
        async with httpx.AsyncClient(trust_env=False, timeout=_TIMEOUT_S) as client:
            response = await client.request(method, f"{self.url}{path}", json=json)
        if response.status_code != 200:
            raise ControlError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()
