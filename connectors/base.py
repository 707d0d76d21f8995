"""The connector interface: one upstream system, one pool, one attempt per ``fetch``.

A connector knows how to talk to one kind of system (HTTP, SQL, a plugin's).
It does not retry, time out or limit concurrency: :mod:`connectors.resilience`
wraps it for that, so every connector gets the same policies.

Lifecycle (httpx ``ClientState`` style)::

    NEW --start()--> STARTED --close()--> CLOSED
     └──────────────close()──────────────────┘

``start()`` and ``close()`` are idempotent; a closed connector cannot be
restarted (build a new one), and ``fetch`` outside STARTED raises
:class:`~connectors.errors.ConnectorNotReady`.
"""

from __future__ import annotations

import abc
import asyncio
import enum
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel

from connectors import _validation
from connectors.errors import ConnectorNotReady, InvalidRequest, SourceConfigError

SettingsT = TypeVar("SettingsT", bound=BaseModel)

GENERIC_SETTINGS = frozenset({"connector", "description", "limits", "breaker"})
"""Source keys every connector shares; they configure graphfetch, not the connector."""


class ConnectorState(enum.Enum):
    NEW = "new"
    STARTED = "started"
    CLOSED = "closed"


class Connector(abc.ABC, Generic[SettingsT]):
    """Base of every connector. Subclasses implement ``_start``, ``_fetch`` and ``_close``.

    The public ``start``/``fetch``/``close`` live here so that every connector
    has the same lifecycle guarantees, checked once by
    :class:`connectors.testing.ConnectorContract`.
    """

    name: ClassVar[str]
    """Name used in a source's ``connector:`` key and in the registry."""
    settings_model: type[SettingsT]
    """pydantic model of the connector's own settings (generic keys removed)."""
    request_model: ClassVar[type[BaseModel]]
    """pydantic model of a node's ``request:`` spec."""
    generic_settings: ClassVar[frozenset[str]] = GENERIC_SETTINGS
    template_escapes: ClassVar[Mapping[str, Callable[[str], str]]] = {}
    """Per top-level field of a node's request, how a value the planner substitutes into a template
    there is escaped: the connector's own syntax decides (HTTP keeps a path value one segment).
    Fields not named take values as they are."""

    def __init__(self, *, source: str, settings: Mapping[str, Any]) -> None:
        self.source = source
        self.settings: SettingsT = self.parse_settings(settings, source=source)
        self._state = ConnectorState.NEW
        self._lifecycle = asyncio.Lock()

    @classmethod
    def parse_settings(cls, settings: Mapping[str, Any], *, source: str) -> SettingsT:
        """Validate a source's settings; generic keys are ignored, unknown ones are errors."""
        own = {k: v for k, v in settings.items() if k not in cls.generic_settings}
        return _validation.parse(cls.settings_model, own, error=SourceConfigError, source=source)

    @classmethod
    def validate_request(cls, request: Mapping[str, Any]) -> None:
        """Check a node's request spec at config-load time, so bad configs fail before any fetch.

        ``request`` is the node's request outline: each ``{expression}`` replaced by a plain
        stand-in (``x``), since no value is known yet; subclasses check only what values cannot
        change.
        """
        _validation.parse(cls.request_model, request, error=InvalidRequest, source=None, prefix="request")

    @property
    def pool_limit(self) -> int | None:
        """Most fetches the connector's own pool serves at once, if it has such a bound.

        The runtime caps the source's concurrency at it (unless ``limits`` says
        otherwise), so extra callers queue for a slot, outside any attempt's
        timeout, instead of timing out inside the pool and opening the breaker.
        """
        return None

    def is_idempotent(self, request: Mapping[str, Any]) -> bool:
        """Whether repeating this rendered request is harmless, so it may be hedged or shared.

        The safe default is ``False``; connectors that only read say ``True``.
        """
        return False

    @property
    def state(self) -> ConnectorState:
        return self._state

    async def start(self) -> None:
        """Open the pool; idempotent. No upstream call is made, so a down upstream does not fail it."""
        async with self._lifecycle:
            if self._state is ConnectorState.STARTED:
                return
            if self._state is ConnectorState.CLOSED:
                raise ConnectorNotReady(
                    "connector is closed and cannot be restarted; create a new one",
                    source=self.source,
                )
            await self._start()
            self._state = ConnectorState.STARTED

    async def fetch(self, request: Mapping[str, Any]) -> Any:
        """Make ONE attempt and return a JSON-able value, or raise a ``FetchError``."""
        if self._state is ConnectorState.NEW:
            raise ConnectorNotReady(
                "connector is not started; call start() first or use 'async with'",
                source=self.source,
            )
        if self._state is ConnectorState.CLOSED:
            raise ConnectorNotReady("connector is closed; create a new one", source=self.source)
        return await self._fetch(request)

    async def close(self) -> None:
        """Release the pool; safe to call twice, and before ``start``."""
        async with self._lifecycle:
            previous, self._state = self._state, ConnectorState.CLOSED
            if previous is ConnectorState.STARTED:
                await self._close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} source={self.source!r} state={self._state.value}>"

    @abc.abstractmethod
    async def _start(self) -> None:
        """Create the pool (client, engine)."""

    @abc.abstractmethod
    async def _fetch(self, request: Mapping[str, Any]) -> Any:
        """One attempt against the upstream; convert library errors to ``FetchError``."""

    @abc.abstractmethod
    async def _close(self) -> None:
        """Dispose of the pool."""
