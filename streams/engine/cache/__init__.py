"""Per-node TTL cache of fetch results, in process or in Redis (``cache: {ttl_s: …}``).

Every answer says what happened (a hit and its age, a skipped store), so the
profile's lineage can explain where a value came from.
"""

from streams.engine.cache.backends import CacheBackend, open_cache
from streams.engine.cache.fetch_cache import CacheHit, FetchCache, UncacheableValue
from streams.engine.cache.keys import cache_key, canonical_json
from streams.engine.cache.memory import MemoryCache
from streams.engine.cache.redis import RedisCache

__all__ = [
    "CacheBackend",
    "CacheHit",
    "FetchCache",
    "MemoryCache",
    "RedisCache",
    "UncacheableValue",
    "cache_key",
    "canonical_json",
    "open_cache",
]
