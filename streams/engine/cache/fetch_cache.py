"""What every fetch cache offers, and the JSON form values are stored in.

A cache answers with a :class:`CacheHit` that says how old the value is, so
the profile's lineage can say ``served from cache, age 12 s``. Values are
stored as JSON in every backend, so moving from the in-process cache to Redis
changes where entries live, never what comes back: a value that Redis could
not hold is refused by the memory cache too, and each hit is a fresh copy a
caller may change without changing the cache.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol


class UncacheableValue(TypeError):
    """The value is not JSON (dict, list, str, int, float, bool, None) and cannot be cached."""


@dataclass(frozen=True, kw_only=True)
class CacheHit:
    """A value found in the cache."""

    value: Any
    stored_at: float
    """When it was stored, in seconds since the epoch (the storing worker's clock)."""
    age_s: float
    """Seconds since it was stored, never negative (clocks of workers may differ slightly)."""


class FetchCache(Protocol):
    """A store of fetch results with a time to live per entry.

    Implementations never fail a fetch because the store is unreachable: a
    read becomes a miss and a write is skipped (and says so).
    """

    async def get(self, key: str, *, max_age_s: float | None = None) -> CacheHit | None:
        """The live entry for ``key``, or ``None``; entries older than ``max_age_s`` are misses.

        ``max_age_s`` lets a node with a short TTL ignore an entry another node
        stored with a longer one.
        """
        ...

    async def set(self, key: str, value: Any, *, ttl_s: float) -> bool:
        """Store ``value`` for ``ttl_s`` seconds; ``False`` when the store was skipped.

        Raises :class:`UncacheableValue` for a value that is not JSON and
        ``ValueError`` for a TTL that is not a positive number of seconds.
        """
        ...

    async def close(self) -> None:
        """Release the store's resources; safe to call twice."""
        ...


def dump_value(value: Any) -> str:
    """The JSON text of ``value`` (ASCII, so its length is its size in bytes)."""
    try:
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise UncacheableValue(
            f"cannot cache a value that is not JSON ({exc}); cache only nodes whose results are JSON"
        ) from None


def check_ttl(ttl_s: float) -> None:
    """Refuse a TTL that would store nothing or forever."""
    if not (0 < ttl_s < float("inf")):
        raise ValueError(f"ttl_s must be a positive, finite number of seconds, not {ttl_s!r}")


def age_of(stored_at: float, now: float) -> float:
    return max(0.0, now - stored_at)
