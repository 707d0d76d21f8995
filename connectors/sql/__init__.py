"""SQL connector on SQLAlchemy's asyncio engine."""

from connectors.sql.connector import SqlConnector
from connectors.sql.request import SqlRequest
from connectors.sql.source_config import SqlSettings

__all__ = ["SqlConnector", "SqlRequest", "SqlSettings"]
