"""Find connector classes by name: the built-ins, plus plugins from entry points.

A third-party package adds a connector by declaring, in its ``pyproject.toml``::

    [project.entry-points."graphfetch.connectors"]
    mongo = "graphfetch_mongo:MongoConnector"

Classes are imported on first use, so listing names imports nothing heavy.
Built-in names cannot be shadowed by a plugin (a plugin claiming ``http`` is
skipped with a warning); :meth:`ConnectorRegistry.register` can replace any
name, for tests.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from connectors.base import Connector
from connectors.errors import SourceConfigError, UnknownConnector

ENTRY_POINT_GROUP = "graphfetch.connectors"
BUILTINS = {
    "http": "connectors.http:HttpConnector",
    "null": "connectors.null:NullConnector",
    "sql": "connectors.sql:SqlConnector",
}

log = logging.getLogger(__name__)

ConnectorT = TypeVar("ConnectorT", bound=type[Connector[Any]])


class ConnectorRegistry:
    """Connector classes by name."""

    def __init__(self, *, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> None:
        """``entry_points`` defaults to the installed ``graphfetch.connectors`` group."""
        self._pending: dict[str, importlib.metadata.EntryPoint] = {
            name: importlib.metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)
            for name, value in BUILTINS.items()
        }
        self._loaded: dict[str, type[Connector[Any]]] = {}
        found = (
            importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if entry_points is None else entry_points
        )
        for entry_point in found:
            known = self._pending.get(entry_point.name)
            if known is None:
                self._pending[entry_point.name] = entry_point
            elif known.value != entry_point.value:
                log.warning(
                    "connector plugin %r (%s) ignored: the name is taken by %s",
                    entry_point.name,
                    entry_point.value,
                    known.value,
                )

    def names(self) -> list[str]:
        """Every known connector name, sorted."""
        return sorted(self._pending.keys() | self._loaded.keys())

    def register(self, cls: ConnectorT) -> ConnectorT:
        """Add (or replace) a connector class under its ``name``; usable as a decorator."""
        if not (isinstance(cls, type) and issubclass(cls, Connector)) or not getattr(cls, "name", ""):
            raise TypeError(f"{cls!r} is not a Connector subclass with a 'name'")
        self._pending.pop(cls.name, None)
        self._loaded[cls.name] = cls
        return cls

    def template_escapes(self, name: str) -> Mapping[str, Callable[[str], str]]:
        """How connector ``name`` escapes a value substituted into each field of its requests
        (:attr:`Connector.template_escapes`); what a pipeline is bound to before it renders."""
        return self.get(name).template_escapes

    def get(self, name: str) -> type[Connector[Any]]:
        """The class for ``name``; ``UnknownConnector`` (a ``KeyError``) lists the known names."""
        cls = self._loaded.get(name)
        if cls is not None:
            return cls
        entry_point = self._pending.get(name)
        if entry_point is None:
            raise UnknownConnector(f"unknown connector '{name}'; known connectors: {', '.join(self.names())}")
        try:
            loaded = entry_point.load()
        except Exception as exc:  # a broken plugin: any import-time error, reported with its origin
            raise SourceConfigError(
                f"connector '{name}' ({entry_point.value}) failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        if not (isinstance(loaded, type) and issubclass(loaded, Connector)) or loaded.name != name:
            raise SourceConfigError(
                f"connector '{name}' ({entry_point.value}) is not a Connector subclass named '{name}'"
            )
        del self._pending[name]
        self._loaded[name] = loaded
        return loaded


@functools.cache
def default_registry() -> ConnectorRegistry:
    """The process-wide registry of built-in and installed connectors."""
    return ConnectorRegistry()
