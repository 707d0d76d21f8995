"""The floor: a workload's fetches issued directly, in the graph's dependency order, nothing else.

No planner, no expressions, no retries or breakers, no Kafka: what the upstream
calls cost by themselves, the latency no runtime can beat. customer360's calls
are written out by hand with one pooled ``httpx.AsyncClient`` and one SQLAlchemy
engine; a null-connector graph is its sleeps, each node starting as soon as the
nodes it depends on are done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devkit.bench.errors import FloorError
from devkit.bench.workloads import GraphFacts
from devkit.demo import CREDIT_THRESHOLD


class Floor(Protocol):
    async def execute(self, key: str) -> None:
        """All of one request's fetches for key value ``key``."""


class Customer360Floor:
    """customer360 by hand: crm and support, then orders, loyalty and credit, then risk."""

    def __init__(self, *, base_url: str, db_url: str, token: str) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=5.0)
        self._engine: AsyncEngine = create_async_engine(db_url)
        self._auth = {"Authorization": f"Bearer {token}"}

    async def __aenter__(self) -> Customer360Floor:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._client.aclose()
        await self._engine.dispose()

    async def _get(
        self, path: str, *, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> Any:
        response = await self._client.get(path, params=params, headers=headers)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise FloorError(f"GET {path} answered {response.status_code}")
        return response.json()

    async def _credit(self, account_id: str) -> int:
        async with self._engine.connect() as connection:
            result = await connection.execute(
                text("select score from credit where account_id = :acct"), {"acct": account_id}
            )
            row = result.first()
        if row is None:
            raise FloorError(f"no credit row for {account_id}")
        return int(row[0])

    async def execute(self, key: str) -> None:
        tickets = asyncio.ensure_future(self._get("/support/tickets", params={"customer": key}))
        try:
            customer = await self._get(f"/crm/customers/{key}")
            if customer is None:
                raise FloorError(f"customer {key} not found")
            account = str(customer["account_id"])
            loyalty = asyncio.ensure_future(self._get(f"/loyalty/members/{account}"))
            orders, score = await asyncio.gather(
                self._get("/orders/orders", params={"account": account}, headers=self._auth),
                self._credit(account),
            )
            if score < CREDIT_THRESHOLD:
                await self._get(f"/risk/scores/{account}", params={"orders": str(orders["count"])})
            await loyalty
        finally:
            await tickets


class SleepFloor:
    """A null-connector graph: each node sleeps its time once its dependencies are done."""

    def __init__(self, *, facts: GraphFacts, node_ms: Mapping[str, float]) -> None:
        self._facts = facts
        self._node_s = {node: node_ms.get(node, 0.0) / 1000.0 for node in facts.order}

    async def _node(self, node: str, deps: list[asyncio.Task[None]]) -> None:
        if deps:
            await asyncio.gather(*deps)
        await asyncio.sleep(self._node_s[node])

    async def execute(self, key: str) -> None:
        started: dict[str, asyncio.Task[None]] = {}
        for node in self._facts.order:
            deps = [started[d] for d in self._facts.deps[node]]
            started[node] = asyncio.ensure_future(self._node(node, deps))
        await asyncio.gather(*started.values())
