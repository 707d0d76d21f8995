"""The in-process fetch cache: one worker's entries, bounded in bytes, each with its own TTL.

Built on cachetools' ``TLRUCache`` rather than ``TTLCache``: ``TTLCache`` has
one TTL for the whole cache, so per-node TTLs would need a cache per distinct
TTL, each with its own bound. ``TLRUCache`` asks a function for each entry's
expiry time, so one cache holds every TTL under one size bound. Expired
entries are dropped on every store, and the least recently used ones go when
the bound is reached.

Values are kept as their JSON text (see :mod:`streams.engine.cache.fetch_cache`): the size
bound counts real bytes, and each hit is decoded afresh.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import TLRUCache

from streams.engine.cache.fetch_cache import CacheHit, age_of, check_ttl, dump_value

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class _Entry:
    text: str
    stored_at: float
    """Wall-clock time of the store, for reports."""
    stored: float
    """Timer reading at the store, for ages and expiry."""
    expires: float


def _expiry(_key: str, entry: _Entry, _now: float) -> float:
    return entry.expires


def _size(entry: _Entry) -> int:
    return len(entry.text)


class MemoryCache:
    """A :class:`~streams.engine.cache.fetch_cache.FetchCache` in this process's memory.

    ``timer`` (monotonic seconds) measures ages and expiry, so a wall-clock
    step does not expire entries early or late; ``clock`` only dates them.
    Tests pass a fake ``timer`` to move time on.
    """

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timer: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
        self._timer = timer
        self._clock = clock
        self._entries: TLRUCache[str, _Entry] = TLRUCache(
            maxsize=max_bytes, ttu=_expiry, timer=timer, getsizeof=_size
        )

    @property
    def size_bytes(self) -> int:
        """Bytes of JSON held (expired entries not yet dropped included)."""
        return int(self._entries.currsize)

    async def get(self, key: str, *, max_age_s: float | None = None) -> CacheHit | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        age_s = age_of(entry.stored, self._timer())
        if max_age_s is not None and age_s > max_age_s:
            return None
        return CacheHit(value=json.loads(entry.text), stored_at=entry.stored_at, age_s=age_s)

    async def set(self, key: str, value: Any, *, ttl_s: float) -> bool:
        """Store ``value``; ``False`` when it alone is larger than the whole cache."""
        check_ttl(ttl_s)
        text = dump_value(value)
        if len(text) > self._entries.maxsize:
            self._entries.pop(key, None)  # an older, smaller value must not outlive this one
            return False
        now = self._timer()
        self._entries[key] = _Entry(text=text, stored_at=self._clock(), stored=now, expires=now + ttl_s)
        return True

    async def close(self) -> None:
        self._entries.clear()
