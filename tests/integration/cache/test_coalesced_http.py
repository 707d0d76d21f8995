"""Coalescing and caching real HTTP fetches: many identical requests, one upstream call.

Fetches go through the real httpx-based connector to a real server that counts
what it receives. The read-through helper below is how a runtime is expected
to combine the pieces, and what each step reports is what the profile's
lineage would say.
"""

from __future__ import annotations

import asyncio
import functools
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.coalescing import Coalescer
from connectors.http import HttpConnector
from planner import Source
from streams.engine.cache import FetchCache, RedisCache, cache_key
from streams.engine.sources import source_identity

from .conftest import CountingUpstream

pytestmark = pytest.mark.integration

FETCHES = 20
SLOW_HOLD_MS = 2_000
"""The upstream's hold in the Redis test, whose fetches each ask Redis first: the last of the 20
cache misses must come back while the first one's call is still held, however loaded the machine."""


@pytest.fixture
async def crm(counting_upstream: CountingUpstream) -> AsyncIterator[HttpConnector]:
    settings = {"base_url": counting_upstream.base_url, "headers": {"Authorization": "Bearer t0ken"}}
    async with HttpConnector(source="crm", settings=settings) as connector:
        yield connector


def key_for(connector: HttpConnector, request: dict[str, Any]) -> str:
    source = Source(connector=connector.name, base_url=str(connector.settings.base_url))
    ident = source_identity(connector.source, source)
    return cache_key(source_ident=ident, request=request)


async def read_through(
    cache: FetchCache, coalescer: Coalescer[Any], connector: HttpConnector, request: dict[str, Any]
) -> tuple[Any, str]:
    """A node fetch with ``cache: {ttl_s: 60}``: the value and the lineage line explaining it."""
    key = key_for(connector, request)
    if (hit := await cache.get(key, max_age_s=60)) is not None:
        return hit.value, f"served from cache, age {hit.age_s:.0f} s"

    async def fetch_and_store() -> Any:
        value = await connector.fetch(request)
        await cache.set(key, value, ttl_s=60)
        return value

    value, shared = await coalescer.run(key, fetch_and_store)
    return value, "shared an in-flight fetch" if shared else "fetched"


async def test_concurrent_identical_fetches_make_one_upstream_call(
    crm: HttpConnector, counting_upstream: CountingUpstream
) -> None:
    coalescer: Coalescer[Any] = Coalescer()
    path = f"/items/{uuid.uuid4().hex[:8]}"
    request = {"path": path}
    results = await asyncio.gather(
        *(coalescer.run(key_for(crm, request), lambda: crm.fetch(request)) for _ in range(FETCHES))
    )
    assert counting_upstream.hits_for(path) == 1
    assert {r.value["served"] for r in results} == {1}
    assert sorted(r.shared for r in results) == [False] + [True] * (FETCHES - 1)
    assert coalescer.in_flight == 0


async def test_without_coalescing_every_fetch_reaches_the_upstream(
    crm: HttpConnector, counting_upstream: CountingUpstream
) -> None:
    """The control for the test above: the server does count each concurrent request."""
    path = f"/items/{uuid.uuid4().hex[:8]}"
    await asyncio.gather(*(crm.fetch({"path": path}) for _ in range(FETCHES)))
    assert counting_upstream.hits_for(path) == FETCHES


async def test_different_requests_are_not_merged(
    crm: HttpConnector, counting_upstream: CountingUpstream
) -> None:
    coalescer: Coalescer[Any] = Coalescer()
    paths = [f"/items/{uuid.uuid4().hex[:8]}" for _ in range(3)]
    requests = [{"path": p} for p in paths for _ in range(4)]
    results = await asyncio.gather(
        *(coalescer.run(key_for(crm, r), functools.partial(crm.fetch, r)) for r in requests)
    )
    assert [counting_upstream.hits_for(p) for p in paths] == [1, 1, 1]
    assert [r.value["id"] for r in results] == [r["path"].rsplit("/", 1)[1] for r in requests]


async def test_two_workers_share_through_redis_and_explain_it(
    counting_upstream: CountingUpstream, redis_url: str, redis_prefix: str
) -> None:
    """Worker A fetches once for 20 concurrent requests; worker B then serves them all from Redis."""
    path = f"/items/{uuid.uuid4().hex[:8]}"
    request = {"path": path, "params": {"hold_ms": SLOW_HOLD_MS}}
    settings = {"base_url": counting_upstream.base_url}
    workers = []
    for _ in range(2):
        workers.append(
            (
                RedisCache(url=redis_url, prefix=redis_prefix),
                Coalescer[Any](),
                HttpConnector(source="crm", settings=settings),
            )
        )
    try:
        for _, _, connector in workers:
            await connector.start()
        first = await asyncio.gather(*(read_through(*workers[0], request) for _ in range(FETCHES)))
        second = await asyncio.gather(*(read_through(*workers[1], request) for _ in range(FETCHES)))
    finally:
        for cache, _, connector in workers:
            await connector.close()
            await cache.close()
    assert counting_upstream.hits_for(path) == 1
    assert sorted(line for _, line in first) == ["fetched"] + ["shared an in-flight fetch"] * (FETCHES - 1)
    assert all(re.fullmatch(r"served from cache, age \d+ s", line) for _, line in second), second
    assert {value["served"] for value, _ in first + second} == {1}
