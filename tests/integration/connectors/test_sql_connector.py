"""The SQL connector against SQLite (a file in tmp_path) and the local PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from connectors import (
    InvalidRequest,
    ResilientSource,
    RetryPolicy,
    SourceConfigError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from connectors.sql import SqlConnector
from connectors.testing import ConnectorContract

pytestmark = pytest.mark.integration

PG_DSN = os.environ.get("GRAPHFETCH_TEST_PG_DSN", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@dataclass
class Database:
    dsn: str
    table: str


async def _seed(dsn: str, table: str) -> None:
    engine = create_async_engine(dsn)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT, score NUMERIC(6,2), born DATE)"
                )
            )
            await conn.execute(
                text(f"INSERT INTO {table} (id, name, score, born) VALUES (:id, :name, :score, :born)"),
                [
                    {"id": 1, "name": "Ada", "score": 712.5, "born": dt.date(1815, 12, 10)},
                    {"id": 2, "name": "Grace", "score": 640, "born": dt.date(1906, 12, 9)},
                ],
            )
    finally:
        await engine.dispose()


async def _drop(dsn: str, table: str) -> None:
    engine = create_async_engine(dsn)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The local PostgreSQL's DSN; the test is skipped (and says why) when nothing listens there."""
    url = make_url(PG_DSN)
    try:
        socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=2).close()
    except OSError as exc:
        pytest.skip(f"PostgreSQL not reachable at {url.host}:{url.port}: {exc}")
    return PG_DSN


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A seeded table with a unique name, dropped after the test."""
    table = f"gf_people_{uuid.uuid4().hex[:10]}"
    if request.param == "sqlite":
        dsn = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    else:
        dsn = request.getfixturevalue("pg_dsn")
    await _seed(dsn, table)
    yield Database(dsn=dsn, table=table)
    await _drop(dsn, table)


@pytest.fixture
async def sql(db: Database) -> AsyncIterator[SqlConnector]:
    async with SqlConnector(source="warehouse", settings={"dsn": db.dsn, "pool_size": 2}) as connector:
        yield connector


async def count_rows(sql: SqlConnector, table: str) -> int:
    row = await sql.fetch({"query": f"SELECT COUNT(*) AS n FROM {table}", "one": True})
    return int(row["n"])


async def test_rows_come_back_as_json_able_dicts(sql: SqlConnector, db: Database) -> None:
    rows = await sql.fetch({"query": f"SELECT id, name, score, born FROM {db.table} ORDER BY id"})
    assert rows == [
        {"id": 1, "name": "Ada", "score": 712.5, "born": "1815-12-10"},
        {"id": 2, "name": "Grace", "score": 640.0, "born": "1906-12-09"},
    ]
    json.dumps(rows)


async def test_one_returns_a_single_dict(sql: SqlConnector, db: Database) -> None:
    row = await sql.fetch(
        {"query": f"SELECT name, score FROM {db.table} WHERE id = :id", "params": {"id": 2}, "one": True}
    )
    assert row == {"name": "Grace", "score": 640.0}


async def test_one_with_no_row_returns_none_and_list_is_empty(sql: SqlConnector, db: Database) -> None:
    query = f"SELECT name FROM {db.table} WHERE id = :id"
    assert await sql.fetch({"query": query, "params": {"id": 99}, "one": True}) is None
    assert await sql.fetch({"query": query, "params": {"id": 99}}) == []


@pytest.mark.parametrize("hostile", ["x' OR '1'='1", "1; DROP TABLE t; --", "Ada'; DELETE FROM t; --"])
async def test_injection_attempts_in_params_are_bound_harmlessly(
    sql: SqlConnector, db: Database, hostile: str
) -> None:
    hostile = hostile.replace(" t;", f" {db.table};")
    rows = await sql.fetch(
        {"query": f"SELECT id FROM {db.table} WHERE name = :name", "params": {"name": hostile}}
    )
    assert rows == []
    assert await count_rows(sql, db.table) == 2


async def test_sql_errors_in_the_query_are_invalid_requests(sql: SqlConnector, db: Database) -> None:
    for query in ("SELEC 1", "SELECT * FROM gf_no_such_table", f"SELECT 1 FROM {db.table}; SELECT 2"):
        with pytest.raises(InvalidRequest) as caught:
            await sql.fetch({"query": query})
        assert not caught.value.retriable


async def test_fetch_does_not_write(sql: SqlConnector, db: Database) -> None:
    await sql.fetch({"query": f"DELETE FROM {db.table} WHERE id = :id", "params": {"id": 1}})
    assert await count_rows(sql, db.table) == 2


async def test_postgres_connection_failure_is_retriable_and_hides_the_password(unused_tcp_port: int) -> None:
    dsn = f"postgresql+asyncpg://postgres:pw-s3cr3t@127.0.0.1:{unused_tcp_port}/test"
    connector = SqlConnector(source="warehouse", settings={"dsn": dsn})
    assert "pw-s3cr3t" not in repr(connector)
    assert "pw-s3cr3t" not in repr(connector.settings)
    async with connector:
        source = ResilientSource.from_settings(connector, {})
        with pytest.raises(UpstreamUnavailable) as caught:
            await source.call(
                {"query": "SELECT 1"}, timeout_ms=5000, retry=RetryPolicy(retries=1, backoff_initial_ms=1)
            )
    assert caught.value.retriable
    assert caught.value.attempts == 2
    assert "pw-s3cr3t" not in str(caught.value)
    assert "***" in str(caught.value)


async def test_sqlite_unopenable_file_is_unavailable(tmp_path: Path) -> None:
    dsn = f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    async with SqlConnector(source="warehouse", settings={"dsn": dsn}) as connector:
        with pytest.raises(UpstreamUnavailable):
            await connector.fetch({"query": "SELECT 1"})
    await _aiosqlite_threads_finished()


async def _aiosqlite_threads_finished() -> None:
    """Wait for aiosqlite's worker threads to end while this test's loop is still open.

    After a failed connect, aiosqlite 0.22 stops its thread with a future nobody
    awaits; if the loop closes first, the thread dies on "Event loop is closed"
    and pytest blames whichever test runs next.
    """
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, 5)
            assert not thread.is_alive()


async def test_refused_login_is_not_retriable_and_hides_the_password(pg_dsn: str) -> None:
    dsn = pg_dsn.replace("postgresql+asyncpg://postgres", "postgresql+asyncpg://gf_no_such_role:pw-s3cr3t", 1)
    async with SqlConnector(source="warehouse", settings={"dsn": dsn}) as connector:
        with pytest.raises(UpstreamRejected) as caught:
            await connector.fetch({"query": "SELECT 1"})
    assert not caught.value.retriable
    assert "pw-s3cr3t" not in str(caught.value)


def test_bad_dsn_message_does_not_echo_the_password() -> None:
    for dsn in (
        "postgresql://postgres:pw-s3cr3t@h/db",
        "not a url pw-s3cr3t",
        "nosuchdb+drv://u:pw-s3cr3t@h/d",
    ):
        with pytest.raises(SourceConfigError, match="dsn") as caught:
            SqlConnector(source="warehouse", settings={"dsn": dsn})
        assert "pw-s3cr3t" not in str(caught.value)


class TestSqlConnectorContract(ConnectorContract):
    connector_class = SqlConnector
    bad_settings = (
        ({}, "dsn"),
        ({"dsn": "sqlite:///sync-driver.db"}, "dsn"),
        ({"dsn": "sqlite+aiosqlite:///x.db", "pool_size": 0}, "pool_size"),
    )
    bad_requests = (
        {},
        {"query": ""},
        {"query": 42},
        {"query": "SELECT :a", "params": {}},
        {"query": "SELECT 1", "params": {"unused": 1}},
        {"query": "SELECT 1", "one": "yes"},
        {"query": "SELECT 1", "extra": True},
    )
    config_requests = (
        {
            "query": "select score from credit where account_id = :acct",
            "params": {"acct": "{customer.account_id}"},
        },
        {"query": "select 1 as one", "one": True},
    )

    @pytest.fixture
    def settings(self, db: Database) -> Mapping[str, Any]:
        return {"dsn": db.dsn}

    @pytest.fixture
    def ok_request(self, db: Database) -> Mapping[str, Any]:
        return {"query": f"SELECT * FROM {db.table}"}
