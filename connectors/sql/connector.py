"""The SQL connector: one SQLAlchemy async engine (and pool) per source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from connectors import _validation
from connectors.base import Connector
from connectors.errors import ConnectorNotReady, InvalidRequest
from connectors.sql.errors import error_for_exception
from connectors.sql.request import SqlRequest
from connectors.sql.source_config import SqlSettings
from connectors.sql.values import row_to_json


class SqlConnector(Connector[SqlSettings]):
    """Runs one parameterised query per fetch and returns its rows as dicts.

    Each fetch runs in its own transaction that is rolled back at the end: the
    connector reads, it does not write.
    """

    name = "sql"
    settings_model = SqlSettings
    request_model = SqlRequest

    def __init__(self, *, source: str, settings: Mapping[str, Any]) -> None:
        super().__init__(source=source, settings=settings)
        self._engine: AsyncEngine | None = None

    def is_idempotent(self, request: Mapping[str, Any]) -> bool:
        """Every fetch is rolled back, so running one twice changes nothing."""
        return True

    @property
    def pool_limit(self) -> int:
        return self.settings.pool_size

    def __repr__(self) -> str:
        return (
            f"<SqlConnector source={self.source!r} dsn={self.settings.safe_dsn!r} state={self.state.value}>"
        )

    async def _start(self) -> None:
        url = self.settings.url
        dialect = url.get_dialect()
        pool_options: dict[str, Any] = {}
        if issubclass(dialect, DefaultDialect) and issubclass(dialect.get_pool_class(url), QueuePool):
            # max_overflow=0: pool_size is the bound, so a slow database queues callers
            pool_options = {"pool_size": self.settings.pool_size, "max_overflow": 0}
        self._engine = create_async_engine(url, **pool_options)

    async def _close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()

    async def _fetch(self, request: Mapping[str, Any]) -> Any:
        spec = _validation.parse(
            SqlRequest, request, error=InvalidRequest, source=self.source, prefix="request"
        )
        engine = self._engine
        if engine is None:
            raise ConnectorNotReady("connector is closing; create a new one", source=self.source)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(text(spec.query), spec.params)
                if not result.returns_rows:
                    rows = []
                elif spec.one:
                    first = result.mappings().first()
                    rows = [first] if first is not None else []
                else:
                    rows = list(result.mappings().all())
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise error_for_exception(
                exc, source=self.source, safe_dsn=self.settings.safe_dsn, secret=self.settings.url.password
            ) from None
        values = [row_to_json(row, source=self.source) for row in rows]
        if spec.one:
            return values[0] if values else None
        return values
