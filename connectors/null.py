"""The null connector: no network, a configured sleep, a fixed answer.

It measures the orchestrator's own capacity (``graphfetch bench``): with it,
what a request costs is planning, Kafka hops and aggregation, not upstreams.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connectors import _validation
from connectors.base import Connector
from connectors.errors import InvalidRequest


class NullSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sleep_ms: float = Field(0.0, ge=0, le=60_000, description="How long every fetch takes.")


class NullRequest(BaseModel):
    """Anything goes; ``sleep_ms`` overrides the source's, ``value`` is returned as is."""

    model_config = ConfigDict(extra="allow", frozen=True)

    sleep_ms: float | None = Field(None, ge=0, le=60_000)
    value: Any = None


class NullConnector(Connector[NullSettings]):
    """Sleeps, then answers ``{"request": <the rendered request>}`` (or the request's ``value``)."""

    name = "null"
    settings_model = NullSettings
    request_model = NullRequest

    def is_idempotent(self, request: Mapping[str, Any]) -> bool:
        """It only sleeps and echoes."""
        return True

    async def _start(self) -> None:
        return None

    async def _close(self) -> None:
        return None

    async def _fetch(self, request: Mapping[str, Any]) -> Any:
        spec = _validation.parse(
            NullRequest, request, error=InvalidRequest, source=self.source, prefix="request"
        )
        delay = spec.sleep_ms if spec.sleep_ms is not None else self.settings.sleep_ms
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        return spec.value if spec.value is not None else {"request": dict(request)}
