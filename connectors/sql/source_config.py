"""Settings of a SQL source. The DSN is a secret: only its password-masked form is ever shown."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError


class SqlSettings(BaseModel):
    """A database reached through SQLAlchemy's asyncio engine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dsn: SecretStr = Field(
        description="SQLAlchemy URL with an async driver, e.g. sqlite+aiosqlite:///demo.db or "
        "postgresql+asyncpg://user:password@host:5432/db."
    )
    pool_size: int = Field(5, ge=1, le=1000, description="Connections kept open; also the most used at once.")

    @field_validator("dsn")
    @classmethod
    def _async_driver(cls, value: SecretStr) -> SecretStr:
        try:
            url = make_url(value.get_secret_value())
        except ArgumentError:
            raise ValueError(
                "dsn is not a SQLAlchemy URL (expected e.g. postgresql+asyncpg://user@host:5432/db)"
            ) from None
        try:
            dialect = url.get_dialect()
        except NoSuchModuleError:
            raise ValueError(
                f"dsn names an unknown SQLAlchemy dialect or driver '{url.drivername}'"
            ) from None
        if not dialect.is_async:
            raise ValueError(
                f"dsn driver '{url.drivername}' is not async: use e.g. sqlite+aiosqlite or postgresql+asyncpg"
            )
        return value

    @property
    def url(self) -> URL:
        return make_url(self.dsn.get_secret_value())

    @property
    def safe_dsn(self) -> str:
        """The DSN with its password masked, fit for messages and logs."""
        return self.url.render_as_string(hide_password=True)
