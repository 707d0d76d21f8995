"""open_cache: the backend named in the settings, ready without any connection."""

from __future__ import annotations

from streams.engine.cache import MemoryCache, RedisCache, open_cache


async def test_memory_backend_is_bounded_as_asked() -> None:
    cache = open_cache(backend="memory", max_bytes=10)
    assert isinstance(cache, MemoryCache)
    assert not await cache.set("k", "x" * 20, ttl_s=60)
    await cache.close()


async def test_redis_backend_connects_lazily() -> None:
    cache = open_cache(backend="redis", redis_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert isinstance(cache, RedisCache)
    assert cache.available
    await cache.close()
