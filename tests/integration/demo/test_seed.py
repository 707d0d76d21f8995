"""Seeding the ``credit`` table in a real SQLite file and the local PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from devkit.demo import account_id_for, credit_score_for, customer_id_for, seed_database

pytestmark = pytest.mark.integration

POSTGRES_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def _rows(dsn: str) -> dict[str, tuple[int, str]]:
    engine = create_async_engine(dsn)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text("select account_id, score, updated_at from credit"))
            return {account: (score, updated) for account, score, updated in result}
    finally:
        await engine.dispose()


@pytest.fixture
async def postgres_dsn() -> AsyncIterator[str]:
    """A throwaway PostgreSQL database, dropped afterwards."""
    name = f"graphfetch_demo_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        try:
            async with admin.connect() as connection:
                await connection.execute(text(f'create database "{name}"'))
        except (OSError, DBAPIError) as exc:
            pytest.skip(f"no PostgreSQL at {POSTGRES_ADMIN}: {exc}")
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        async with admin.connect() as connection:
            await connection.execute(text(f'drop database "{name}" with (force)'))
    finally:
        await admin.dispose()


async def _check_seeding(dsn: str) -> None:
    first = await seed_database(dsn)
    second = await seed_database(dsn)
    assert first == second == 5_000
    rows = await _rows(dsn)
    accounts = [account_id_for(customer_id_for(i)) for i in range(5_000)]
    assert sorted(rows) == sorted(accounts)
    assert all(rows[a][0] == credit_score_for(a) for a in accounts)
    scores = [score for score, _ in rows.values()]
    assert min(scores) >= 300
    assert max(scores) <= 850
    assert 0.25 <= sum(s < 650 for s in scores) / len(scores) <= 0.35


async def test_seeding_sqlite_is_idempotent_and_matches_credit_score_for(tmp_path: Path) -> None:
    await _check_seeding(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")


async def test_seeding_postgres_is_idempotent_and_matches_credit_score_for(postgres_dsn: str) -> None:
    await _check_seeding(postgres_dsn)


async def test_seeding_fewer_customers_replaces_the_rows(tmp_path: Path) -> None:
    dsn = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await seed_database(dsn, customers=50)
    assert await seed_database(dsn, customers=10) == 10
    assert sorted(await _rows(dsn)) == sorted(account_id_for(customer_id_for(i)) for i in range(10))


async def test_seeding_keeps_other_tables(tmp_path: Path) -> None:
    dsn = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    engine = create_async_engine(dsn)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("create table notes (body text)"))
            await connection.execute(text("insert into notes values ('kept')"))
        await seed_database(dsn, customers=5)
        async with engine.connect() as connection:
            assert (await connection.execute(text("select body from notes"))).scalar_one() == "kept"
    finally:
        await engine.dispose()


async def test_seeding_5000_rows_into_sqlite_is_one_insert_of_every_row(tmp_path: Path) -> None:
    """What keeps seeding fast: one bound-parameter executemany, not a statement per row. How long it
    takes is a figure: ``.venv/bin/python tests/bench_seed.py``."""
    inserts: list[int] = []

    def count(
        _conn: Connection,
        _cursor: object,
        statement: str,
        parameters: Sequence[object],
        _context: object,
        executemany: bool,
    ) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(len(parameters) if executemany else 1)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        assert await seed_database(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}") == 5_000
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert inserts == [5_000]


async def test_seeding_rejects_a_customer_count_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="customers"):
        await seed_database(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}", customers=0)
