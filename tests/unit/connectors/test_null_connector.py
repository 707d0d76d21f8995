"""The null connector (no network) honours the connector contract and sleeps as configured."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from connectors.null import NullConnector
from connectors.testing import ConnectorContract


class TestNullConnectorContract(ConnectorContract):
    connector_class = NullConnector
    bad_settings = (({"sleep_ms": -1}, "sleep_ms"),)
    bad_requests = ({"sleep_ms": "slow"},)
    config_requests = ({"value": "{keys.id}"},)

    @pytest.fixture
    def settings(self) -> Mapping[str, Any]:
        return {"sleep_ms": 0}

    @pytest.fixture
    def ok_request(self) -> Mapping[str, Any]:
        return {"value": {"ok": True}}


async def test_null_connector_sleeps_the_configured_time_and_echoes_the_request() -> None:
    async with NullConnector(source="null", settings={"sleep_ms": 20}) as connector:
        started = time.perf_counter()
        value = await connector.fetch({"path": "/x"})
        elapsed_ms = (time.perf_counter() - started) * 1000
    assert value == {"request": {"path": "/x"}}
    assert elapsed_ms >= 19


async def test_request_sleep_overrides_the_source_sleep() -> None:
    async with NullConnector(source="null", settings={"sleep_ms": 5000}) as connector:
        started = time.perf_counter()
        assert await connector.fetch({"sleep_ms": 0, "value": 7}) == 7
        assert (time.perf_counter() - started) < 1.0
