"""Choosing a cache backend from settings: one entry point for the worker and the in-process runtime."""

from __future__ import annotations

from typing import Literal

from streams.engine.cache.fetch_cache import FetchCache
from streams.engine.cache.memory import DEFAULT_MAX_BYTES, MemoryCache
from streams.engine.cache.redis import DEFAULT_URL, RedisCache

CacheBackend = Literal["memory", "redis"]
"""``memory``: per worker process; ``redis``: shared by every worker using the same Redis."""


def open_cache(
    *, backend: CacheBackend, redis_url: str = DEFAULT_URL, max_bytes: int = DEFAULT_MAX_BYTES
) -> FetchCache:
    """The cache nodes with ``cache: {ttl_s: …}`` use; no connection is made until the first call."""
    if backend == "redis":
        return RedisCache(url=redis_url)
    return MemoryCache(max_bytes=max_bytes)
