"""RedisCache against the real Redis: shared entries between workers, TTLs, and outages that fail nothing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from streams.engine.cache import RedisCache, UncacheableValue

from .conftest import TcpRelay

pytestmark = pytest.mark.integration

CacheFactory = Callable[..., RedisCache]


@pytest.fixture
async def open_cache(redis_url: str, redis_prefix: str) -> AsyncIterator[CacheFactory]:
    """Builds RedisCaches on the test's prefix (each one stands for a worker) and closes them."""
    made: list[RedisCache] = []

    def make(**options: object) -> RedisCache:
        cache = RedisCache(url=redis_url, prefix=redis_prefix, **options)  # type: ignore[arg-type]
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.close()


async def test_two_workers_share_an_entry(open_cache: CacheFactory) -> None:
    worker_a, worker_b = open_cache(), open_cache()
    assert await worker_b.get("k") is None
    assert await worker_a.set("k", {"customer": {"id": 7, "tags": ["a"]}}, ttl_s=60)
    hit = await worker_b.get("k")
    assert hit is not None
    assert hit.value == {"customer": {"id": 7, "tags": ["a"]}}
    assert 0 <= hit.age_s < 5
    assert abs(hit.stored_at - time.time()) < 5


async def test_entry_is_stored_under_the_prefix_with_a_redis_ttl(
    open_cache: CacheFactory, redis_url: str, redis_prefix: str
) -> None:
    await open_cache().set("k", [1, 2], ttl_s=30)
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert 0 < await client.pttl(f"{redis_prefix}k") <= 30_000
    finally:
        await client.aclose()


async def test_age_comes_from_the_storing_clock(open_cache: CacheFactory) -> None:
    writer = open_cache(clock=lambda: 1_000.0)
    reader = open_cache(clock=lambda: 1_012.5)
    await writer.set("k", "v", ttl_s=60)
    hit = await reader.get("k")
    assert hit is not None
    assert hit.age_s == pytest.approx(12.5)
    assert hit.stored_at == 1_000.0
    assert await reader.get("k", max_age_s=10) is None
    skewed = open_cache(clock=lambda: 990.0)
    early = await skewed.get("k")
    assert early is not None
    assert early.age_s == 0.0


async def test_entry_expires_after_its_ttl(open_cache: CacheFactory) -> None:
    cache = open_cache()
    await cache.set("k", "short-lived", ttl_s=0.2)
    assert await cache.get("k") is not None
    async with asyncio.timeout(5):
        while await cache.get("k") is not None:  # noqa: ASYNC110 - Redis expires keys on its own clock: nothing to wait on
            await asyncio.sleep(0.05)


async def test_non_json_value_is_refused_and_nothing_stored(open_cache: CacheFactory) -> None:
    cache = open_cache()
    with pytest.raises(UncacheableValue):
        await cache.set("k", {"raw": b"bytes"}, ttl_s=60)
    assert await cache.get("k") is None


async def test_foreign_entry_is_a_miss(open_cache: CacheFactory, redis_url: str, redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.set(f"{redis_prefix}k", "not graphfetch json", ex=60)
    finally:
        await client.aclose()
    assert await open_cache().get("k") is None


async def test_redis_down_means_misses_and_one_warning(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache(url=f"redis://127.0.0.1:{closed_port}/0", retry_after_s=0.0)
    caplog.set_level(logging.INFO, logger="streams.engine.cache.redis")
    try:
        started = time.monotonic()
        for _ in range(5):
            assert await cache.get("k") is None
            assert await cache.set("k", {"v": 1}, ttl_s=60) is False
        elapsed = time.monotonic() - started
    finally:
        await cache.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert "unreachable" in warnings[0].getMessage()
    assert not cache.available
    assert elapsed < 5  # refused connections fail fast: no retries, short timeouts


async def test_outage_pauses_attempts_then_recovers(
    redis_relay: TcpRelay, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis goes away under a live cache: misses and skipped stores, one warning, then recovery."""
    caplog.set_level(logging.INFO, logger="streams.engine.cache.redis")
    cache = RedisCache(url=f"redis://127.0.0.1:{redis_relay.port}/0", prefix=redis_prefix, retry_after_s=0.2)
    try:
        assert await cache.set("k", "v", ttl_s=60)
        await redis_relay.cut()
        assert await cache.get("k") is None
        assert await cache.set("k", "other", ttl_s=60) is False
        assert not cache.available
        await redis_relay.start()  # same port
        assert await cache.get("k") is None  # still resting: Redis is not asked yet
        async with asyncio.timeout(5):
            while (hit := await cache.get("k")) is None:  # noqa: ASYNC110 - the pause ends on a clock, not an event
                await asyncio.sleep(0.05)
        assert hit.value == "v"
        assert cache.available
    finally:
        await cache.close()
    levels = [r.levelname for r in caplog.records]
    assert levels == ["WARNING", "INFO"], [r.getMessage() for r in caplog.records]
