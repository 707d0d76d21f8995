"""Which rendered requests a connector lets the runtime hedge or share: only those that cannot change state."""

from __future__ import annotations

import pytest

from connectors.http import HttpConnector
from connectors.null import NullConnector
from connectors.sql import SqlConnector


@pytest.mark.parametrize(
    ("method", "idempotent"),
    [
        (None, True),
        ("GET", True),
        ("get", True),
        ("HEAD", True),
        ("OPTIONS", True),
        ("POST", False),
        ("PUT", False),
    ],
)
def test_http_only_safe_methods_are_idempotent(method: str | None, idempotent: bool) -> None:
    connector = HttpConnector(source="api", settings={"base_url": "http://127.0.0.1:1"})
    request = {"path": "/x"} if method is None else {"path": "/x", "method": method}
    assert connector.is_idempotent(request) is idempotent


def test_sql_reads_in_a_rolled_back_transaction_so_it_is_idempotent() -> None:
    connector = SqlConnector(source="db", settings={"dsn": "sqlite+aiosqlite:///:memory:"})
    assert connector.is_idempotent({"query": "select 1"})


def test_null_is_idempotent() -> None:
    assert NullConnector(source="n", settings={}).is_idempotent({})
