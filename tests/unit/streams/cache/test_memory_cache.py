"""MemoryCache: per-entry TTLs, ages, the byte bound and JSON-only values, on a fake timer."""

from __future__ import annotations

import datetime as dt

import pytest

from streams.engine.cache import MemoryCache, UncacheableValue


class FakeTimer:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def timer() -> FakeTimer:
    return FakeTimer()


@pytest.fixture
def cache(timer: FakeTimer) -> MemoryCache:
    return MemoryCache(timer=timer, clock=lambda: 1_700_000_000.0)


async def test_hit_reports_value_age_and_store_time(cache: MemoryCache, timer: FakeTimer) -> None:
    assert await cache.set("k", {"a": [1, 2]}, ttl_s=60)
    timer.now += 12
    hit = await cache.get("k")
    assert hit is not None
    assert hit.value == {"a": [1, 2]}
    assert hit.age_s == pytest.approx(12)
    assert hit.stored_at == 1_700_000_000.0


async def test_entry_expires_after_its_own_ttl(cache: MemoryCache, timer: FakeTimer) -> None:
    await cache.set("short", "s", ttl_s=5)
    await cache.set("long", "l", ttl_s=60)
    timer.now += 4.9
    assert await cache.get("short") is not None
    timer.now += 0.1
    assert await cache.get("short") is None
    long_hit = await cache.get("long")
    assert long_hit is not None
    assert long_hit.value == "l"
    timer.now += 55
    assert await cache.get("long") is None


async def test_max_age_turns_an_older_entry_into_a_miss(cache: MemoryCache, timer: FakeTimer) -> None:
    await cache.set("k", 1, ttl_s=600)
    timer.now += 30
    assert await cache.get("k", max_age_s=10) is None
    assert await cache.get("k", max_age_s=60) is not None


async def test_set_replaces_value_and_restarts_its_age(cache: MemoryCache, timer: FakeTimer) -> None:
    await cache.set("k", "old", ttl_s=10)
    timer.now += 8
    await cache.set("k", "new", ttl_s=10)
    timer.now += 8
    hit = await cache.get("k")
    assert hit is not None
    assert hit.value == "new"
    assert hit.age_s == pytest.approx(8)


async def test_size_bound_evicts_least_recently_used(timer: FakeTimer) -> None:
    value = "x" * 98  # 100 bytes of JSON with its quotes
    cache = MemoryCache(max_bytes=300, timer=timer)
    for key in ("a", "b", "c"):
        await cache.set(key, value, ttl_s=60)
    assert await cache.get("a") is not None  # "b" is now the least recently used
    await cache.set("d", value, ttl_s=60)
    assert cache.size_bytes == 300
    assert await cache.get("b") is None
    assert [await cache.get(k) is not None for k in ("a", "c", "d")] == [True, True, True]


async def test_expired_entries_free_their_bytes_on_the_next_store(timer: FakeTimer) -> None:
    cache = MemoryCache(max_bytes=1000, timer=timer)
    await cache.set("a", "x" * 98, ttl_s=1)
    timer.now += 2
    await cache.set("b", 1, ttl_s=60)
    assert cache.size_bytes == 1


async def test_value_larger_than_the_cache_is_not_stored(timer: FakeTimer) -> None:
    cache = MemoryCache(max_bytes=10, timer=timer)
    assert await cache.set("k", "small", ttl_s=60)
    assert not await cache.set("k", "x" * 20, ttl_s=60)
    assert await cache.get("k") is None  # the old value does not outlive the one refused


async def test_hits_are_copies_callers_may_change(cache: MemoryCache) -> None:
    value = {"items": [1]}
    await cache.set("k", value, ttl_s=60)
    value["items"].append(2)
    first = await cache.get("k")
    assert first is not None
    assert first.value == {"items": [1]}
    first.value["items"].append(3)
    again = await cache.get("k")
    assert again is not None
    assert again.value == {"items": [1]}


async def test_non_json_value_is_refused_clearly(cache: MemoryCache) -> None:
    with pytest.raises(UncacheableValue, match="not JSON"):
        await cache.set("k", {"when": dt.datetime(2024, 1, 1)}, ttl_s=60)
    assert await cache.get("k") is None


@pytest.mark.parametrize("ttl_s", [0, -1, float("inf"), float("nan")])
async def test_ttl_must_be_positive_and_finite(cache: MemoryCache, ttl_s: float) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await cache.set("k", 1, ttl_s=ttl_s)


async def test_close_drops_every_entry_and_is_safe_twice(cache: MemoryCache) -> None:
    await cache.set("k", 1, ttl_s=60)
    await cache.close()
    await cache.close()
    assert await cache.get("k") is None
