"""SQL request rules, value conversion and error mapping, without a database."""

import datetime as dt
import decimal
import sqlite3
import uuid

import pytest
from sqlalchemy import exc as sa_exc

from connectors import BadResponse, InvalidRequest, SourceConfigError, UpstreamRejected, UpstreamUnavailable
from connectors.sql import SqlConnector, SqlRequest
from connectors.sql.errors import error_for_exception
from connectors.sql.values import to_json


def test_query_params_must_match_binds() -> None:
    SqlRequest.model_validate(
        {"query": "select x::int from t where a = :a and b = :b", "params": {"a": 1, "b": 2}}
    )
    with pytest.raises(InvalidRequest, match=":b but params has no value"):
        SqlConnector.validate_request({"query": "select 1 where :a = :b", "params": {"a": 1}})
    with pytest.raises(InvalidRequest, match="extra not used"):
        SqlConnector.validate_request({"query": "select 1", "params": {"extra": 1}})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (decimal.Decimal("712.50"), 712.5),
        (decimal.Decimal("NaN"), "NaN"),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2026-01-02T03:04:05+00:00"),
        (dt.timedelta(minutes=1), 60.0),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (b"\x00\x01", "AAE="),
        ({"nested": [decimal.Decimal("1.5")]}, {"nested": [1.5]}),
        (float("inf"), "inf"),
        (None, None),
        (True, True),
    ],
)
def test_values_become_json(value: object, expected: object) -> None:
    assert to_json(value, column="c", source="s") == expected


def test_unknown_types_fail_naming_the_column() -> None:
    with pytest.raises(BadResponse, match=r"column 'blob'.*CAST"):
        to_json(object(), column="blob", source="s")


def dbapi_error(cls: type[sa_exc.DBAPIError], orig: Exception) -> sa_exc.DBAPIError:
    return cls("SELECT secret_column", {"p": "param-value"}, orig)


class PgError(Exception):
    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def sqlite_error(message: str, name: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorname = name
    return error


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), UpstreamUnavailable),
        (TimeoutError(), UpstreamUnavailable),
        (dbapi_error(sa_exc.ProgrammingError, PgError("syntax error", "42601")), InvalidRequest),
        (dbapi_error(sa_exc.DBAPIError, PgError("invalid input", "22000")), InvalidRequest),
        (dbapi_error(sa_exc.OperationalError, PgError("too many connections", "53300")), UpstreamUnavailable),
        (dbapi_error(sa_exc.OperationalError, PgError("admin shutdown", "57P01")), UpstreamUnavailable),
        (dbapi_error(sa_exc.DBAPIError, PgError("deadlock", "40P01")), UpstreamUnavailable),
        (
            dbapi_error(sa_exc.DBAPIError, PgError("password authentication failed", "28P01")),
            UpstreamRejected,
        ),
        (
            dbapi_error(sa_exc.OperationalError, sqlite_error("no such table: t", "SQLITE_ERROR")),
            InvalidRequest,
        ),
        (dbapi_error(sa_exc.OperationalError, sqlite_error("locked", "SQLITE_BUSY")), UpstreamUnavailable),
        (dbapi_error(sa_exc.OperationalError, sqlite_error("io", "SQLITE_IOERR_READ")), UpstreamUnavailable),
        (dbapi_error(sa_exc.OperationalError, RuntimeError("gone")), UpstreamUnavailable),
        (
            sa_exc.StatementError("A value is required for bind parameter 'x'", "SELECT :x", {}, None),
            InvalidRequest,
        ),
    ],
)
def test_database_errors_are_classified(exc: BaseException, error: type[Exception]) -> None:
    converted = error_for_exception(exc, source="s", safe_dsn="postgresql+asyncpg://u:***@h/db", secret="pw")
    assert type(converted) is error
    assert "SELECT" not in str(converted)
    assert "param-value" not in str(converted)


def test_password_is_scrubbed_from_driver_messages() -> None:
    exc = dbapi_error(sa_exc.OperationalError, PgError("could not use password hunter2", "08006"))
    converted = error_for_exception(exc, source="s", safe_dsn="d", secret="hunter2")
    assert "hunter2" not in str(converted)


def test_memory_sqlite_accepts_pool_size() -> None:
    SqlConnector(source="s", settings={"dsn": "sqlite+aiosqlite:///:memory:", "pool_size": 3})


async def test_memory_sqlite_works_without_a_queue_pool() -> None:
    async with SqlConnector(source="s", settings={"dsn": "sqlite+aiosqlite:///:memory:"}) as connector:
        assert await connector.fetch({"query": "select :a as a", "params": {"a": 1}, "one": True}) == {"a": 1}


def test_sync_driver_is_rejected_with_the_fix() -> None:
    with pytest.raises(SourceConfigError, match="sqlite\\+aiosqlite"):
        SqlConnector(source="s", settings={"dsn": "sqlite:///x.db"})
