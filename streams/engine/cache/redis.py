"""The shared fetch cache: entries in Redis, so every worker serves what any worker fetched.

Each entry is one string key, ``<prefix><cache key>``, holding JSON
``{"stored_at": <epoch s>, "value": <value>}`` and set with ``SET … PX`` so
Redis itself expires it. Ages come from ``stored_at`` and this worker's
clock, clamped at zero.

Redis is an optimisation, never a dependency of a fetch: when it is down or
slow (short socket timeouts, no client retries), a read is a miss and a write
is skipped. The first failure of an outage logs one warning, the first
success after it one info line; in between the cache stays quiet and, for
``retry_after_s``, does not even try, so an outage does not add a timeout to
every fetch.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from streams.engine.cache.fetch_cache import CacheHit, age_of, check_ttl, dump_value

log = logging.getLogger(__name__)

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX = "graphfetch:cache:"


class RedisCache:
    """A :class:`~streams.engine.cache.fetch_cache.FetchCache` in Redis, shared by every worker using ``url``."""

    def __init__(
        self,
        *,
        url: str = DEFAULT_URL,
        prefix: str = DEFAULT_PREFIX,
        timeout_s: float = 0.25,
        retry_after_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._prefix = prefix
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._down_since: float | None = None
        self._skip_until = 0.0

    @property
    def available(self) -> bool:
        """False during an outage (from its first failure to the next success)."""
        return self._down_since is None

    async def get(self, key: str, *, max_age_s: float | None = None) -> CacheHit | None:
        if self._resting():
            return None
        try:
            raw = await self._client.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return None
        self._succeeded()
        if raw is None:
            return None
        try:
            entry = json.loads(raw)
            stored_at = float(entry["stored_at"])
            value = entry["value"]
        except (ValueError, TypeError, KeyError):
            log.warning("cache entry %s… in Redis is not graphfetch's JSON; treated as a miss", key[:12])
            return None
        age_s = age_of(stored_at, self._clock())
        if max_age_s is not None and age_s > max_age_s:
            return None
        return CacheHit(value=value, stored_at=stored_at, age_s=age_s)

    async def set(self, key: str, value: Any, *, ttl_s: float) -> bool:
        """Store ``value``; ``False`` when Redis could not be reached (the fetch goes on)."""
        check_ttl(ttl_s)
        payload = dump_value({"stored_at": self._clock(), "value": value})
        if self._resting():
            return False
        try:
            await self._client.set(self._prefix + key, payload, px=max(1, math.ceil(ttl_s * 1000)))
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return False
        self._succeeded()
        return True

    async def close(self) -> None:
        await self._client.aclose()

    def _resting(self) -> bool:
        return self._down_since is not None and time.monotonic() < self._skip_until

    def _failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._skip_until = now + self._retry_after_s
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "Redis cache unreachable (%s: %s); fetching without the cache until it answers again",
                type(exc).__name__,
                exc,
            )

    def _succeeded(self) -> None:
        if self._down_since is not None:
            log.info("Redis cache reachable again after %.1f s", time.monotonic() - self._down_since)
            self._down_since = None
