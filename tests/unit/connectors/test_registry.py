"""ConnectorRegistry: built-ins, installed entry points, plugins and clear errors."""

import importlib.metadata
import logging
import textwrap
from pathlib import Path

import pytest

from connectors import ConnectorRegistry, SourceConfigError, UnknownConnector, default_registry
from connectors.http import HttpConnector
from connectors.registry import ENTRY_POINT_GROUP
from connectors.sql import SqlConnector

PLUGIN = textwrap.dedent(
    """
    from collections.abc import Mapping
    from typing import Any

    from pydantic import BaseModel

    from connectors import Connector


    class EchoSettings(BaseModel):
        greeting: str = "hi"


    class EchoRequest(BaseModel):
        text: str


    class EchoConnector(Connector[EchoSettings]):
        name = "echo"
        settings_model = EchoSettings
        request_model = EchoRequest

        async def _start(self) -> None:
            pass

        async def _fetch(self, request: Mapping[str, Any]) -> Any:
            return f"{self.settings.greeting} {request['text']}"

        async def _close(self) -> None:
            pass


    NotAConnector = object
    """
)


def entry_point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    module = f"gf_plugin_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    return module


def test_builtins_are_known() -> None:
    registry = ConnectorRegistry(entry_points=[])
    assert registry.names() == ["http", "null", "sql"]
    assert registry.get("http") is HttpConnector
    assert registry.get("sql") is SqlConnector


def test_unknown_name_lists_the_known_names() -> None:
    with pytest.raises(
        UnknownConnector, match=r"unknown connector 'mongo'; known connectors: http, null, sql"
    ):
        ConnectorRegistry(entry_points=[]).get("mongo")


def test_unknown_name_is_a_key_error_for_callers_that_catch_lookups() -> None:
    with pytest.raises(KeyError):
        ConnectorRegistry(entry_points=[]).get("mongo")


def test_installed_distribution_declares_the_builtins_as_entry_points() -> None:
    found = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert found["http"].load() is HttpConnector
    assert found["sql"].load() is SqlConnector
    assert {"http", "sql"} <= set(default_registry().names())


def test_third_party_entry_point_is_found_and_loaded(plugin_module: str) -> None:
    registry = ConnectorRegistry(entry_points=[entry_point("echo", f"{plugin_module}:EchoConnector")])
    assert registry.names() == ["echo", "http", "null", "sql"]
    cls = registry.get("echo")
    assert cls.name == "echo"
    assert cls(source="s", settings={}).settings.greeting == "hi"


async def test_plugin_connector_gets_the_shared_lifecycle(plugin_module: str) -> None:
    registry = ConnectorRegistry(entry_points=[entry_point("echo", f"{plugin_module}:EchoConnector")])
    async with registry.get("echo")(source="s", settings={"greeting": "hello"}) as connector:
        assert await connector.fetch({"text": "world"}) == "hello world"


def test_plugin_cannot_shadow_a_builtin(plugin_module: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        registry = ConnectorRegistry(entry_points=[entry_point("http", f"{plugin_module}:EchoConnector")])
    assert registry.get("http") is HttpConnector
    assert "ignored" in caplog.text


def test_broken_plugin_fails_with_its_origin(plugin_module: str) -> None:
    registry = ConnectorRegistry(
        entry_points=[
            entry_point("missing", "gf_no_such_module:Thing"),
            entry_point("wrong", f"{plugin_module}:NotAConnector"),
            entry_point("renamed", f"{plugin_module}:EchoConnector"),
        ]
    )
    with pytest.raises(SourceConfigError, match=r"gf_no_such_module:Thing.*failed to import"):
        registry.get("missing")
    with pytest.raises(SourceConfigError, match="not a Connector subclass named 'wrong'"):
        registry.get("wrong")
    with pytest.raises(SourceConfigError, match="named 'renamed'"):
        registry.get("renamed")


def test_register_adds_or_replaces_a_class(plugin_module: str) -> None:
    registry = ConnectorRegistry(entry_points=[])
    plugin = ConnectorRegistry(entry_points=[entry_point("echo", f"{plugin_module}:EchoConnector")]).get(
        "echo"
    )
    assert registry.register(plugin) is plugin
    assert registry.get("echo") is plugin
    with pytest.raises(TypeError):
        registry.register(object)  # type: ignore[type-var]


def test_default_registry_is_cached() -> None:
    assert default_registry() is default_registry()
