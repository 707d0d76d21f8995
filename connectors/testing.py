"""The contract every connector must honour, as a test suite to subclass (faststream ``tests/brokers/base`` style).

Usage, in a connector's test module::

    class TestHttpContract(ConnectorContract):
        connector_class = HttpConnector
        bad_settings = [({"base_url": "ftp://x"}, "base_url")]
        bad_requests = [{"path": "no-slash"}]
        config_requests = [{"path": "/customers/{keys.id}"}]

        @pytest.fixture
        def settings(self, http_server): return {"base_url": http_server}

        @pytest.fixture
        def ok_request(self): return {"path": "/ok"}

This module imports pytest: import it from tests only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

import pytest

from connectors.base import Connector, ConnectorState
from connectors.errors import ConnectorNotReady, InvalidRequest, SourceConfigError

SOURCE = "contract-source"


def state_of(connector: Connector[Any]) -> ConnectorState:
    """Read the state afresh (a plain attribute read would stay narrowed for the type checker)."""
    return connector.state


class ConnectorContract:
    """Lifecycle, settings and request-spec checks shared by all connectors."""

    connector_class: ClassVar[type[Connector[Any]]]
    bad_settings: ClassVar[Sequence[tuple[Mapping[str, Any], str]]] = ()
    """Settings that must fail, each with the field its message must name."""
    bad_requests: ClassVar[Sequence[Mapping[str, Any]]] = ()
    """Request specs ``validate_request`` must reject."""
    config_requests: ClassVar[Sequence[Mapping[str, Any]]] = ()
    """Request specs as written in a config (with ``{templates}``) that must be accepted."""

    @pytest.fixture
    def settings(self) -> Mapping[str, Any]:
        """Settings of a source that really answers; override in the subclass."""
        raise NotImplementedError("override the 'settings' fixture")

    @pytest.fixture
    def ok_request(self) -> Mapping[str, Any]:
        """A rendered request the real upstream answers; override in the subclass."""
        raise NotImplementedError("override the 'ok_request' fixture")

    @pytest.fixture
    async def connector(self, settings: Mapping[str, Any]) -> AsyncIterator[Connector[Any]]:
        connector = self.connector_class(source=SOURCE, settings=settings)
        yield connector
        await connector.close()

    def test_declares_name_and_models(self) -> None:
        cls = self.connector_class
        assert cls.name
        assert cls.settings_model is not None
        assert cls.request_model is not None

    async def test_fetch_returns_a_json_value(
        self, connector: Connector[Any], ok_request: Mapping[str, Any]
    ) -> None:
        await connector.start()
        value = await connector.fetch(ok_request)
        json.dumps(value)

    async def test_start_and_close_are_idempotent(self, connector: Connector[Any]) -> None:
        await connector.start()
        await connector.start()
        assert state_of(connector) is ConnectorState.STARTED
        await connector.close()
        await connector.close()
        assert state_of(connector) is ConnectorState.CLOSED

    async def test_close_without_start_is_safe(self, connector: Connector[Any]) -> None:
        await connector.close()
        assert state_of(connector) is ConnectorState.CLOSED

    async def test_async_with_starts_and_closes(
        self, connector: Connector[Any], ok_request: Mapping[str, Any]
    ) -> None:
        async with connector as started:
            assert started is connector
            assert state_of(connector) is ConnectorState.STARTED
            await connector.fetch(ok_request)
        assert state_of(connector) is ConnectorState.CLOSED

    async def test_fetch_before_start_raises_not_ready(
        self, connector: Connector[Any], ok_request: Mapping[str, Any]
    ) -> None:
        with pytest.raises(ConnectorNotReady, match="start"):
            await connector.fetch(ok_request)

    async def test_fetch_after_close_raises_not_ready(
        self, connector: Connector[Any], ok_request: Mapping[str, Any]
    ) -> None:
        await connector.start()
        await connector.close()
        with pytest.raises(ConnectorNotReady, match="closed"):
            await connector.fetch(ok_request)

    async def test_start_after_close_raises_not_ready(self, connector: Connector[Any]) -> None:
        await connector.close()
        with pytest.raises(ConnectorNotReady, match="closed"):
            await connector.start()

    def test_bad_settings_raise_source_config_error_naming_source_and_field(self) -> None:
        assert self.bad_settings, "declare at least one bad settings case"
        for settings, field in self.bad_settings:
            with pytest.raises(SourceConfigError) as caught:
                self.connector_class(source=SOURCE, settings=settings)
            assert SOURCE in str(caught.value)
            assert field in str(caught.value), (settings, str(caught.value))

    def test_unknown_setting_is_an_error(self, settings: Mapping[str, Any]) -> None:
        with pytest.raises(SourceConfigError, match="no_such_setting"):
            self.connector_class(source=SOURCE, settings={**settings, "no_such_setting": 1})

    def test_generic_settings_are_ignored(self, settings: Mapping[str, Any]) -> None:
        generic = {
            "connector": self.connector_class.name,
            "description": "shared keys belong to graphfetch, not to the connector",
            "limits": {"max_concurrency": 4},
            "breaker": {"failure_threshold": 3},
        }
        self.connector_class(source=SOURCE, settings={**settings, **generic})

    def test_validate_request_rejects_bad_specs(self) -> None:
        assert self.bad_requests, "declare at least one bad request spec"
        for request in self.bad_requests:
            with pytest.raises(InvalidRequest):
                self.connector_class.validate_request(request)

    def test_validate_request_accepts_config_specs(self) -> None:
        assert self.config_requests, "declare at least one config request spec"
        for request in self.config_requests:
            self.connector_class.validate_request(request)

    async def test_fetch_rejects_bad_specs_with_invalid_request(self, connector: Connector[Any]) -> None:
        await connector.start()
        for request in self.bad_requests:
            with pytest.raises(InvalidRequest):
                await connector.fetch(request)
