"""Node caches: a repeated fetch within ``ttl_s`` is served without an upstream call.

``store: memory`` lives in one engine (one worker); ``store: redis`` is shared by
every engine using the same Redis, here two engines with their own adaptive
state, as two workers would be. Entries are keyed by the source's identity,
which includes this module's upstream port, and deleted after the test.

The memory cache ages its entries on a timer the test moves (``MemoryCache``'s
``timer``): whether a repeat comes within the TTL is then the test's decision,
not the speed of the machine between two requests, and no sleep waits out a TTL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from planner import Pipeline, RequestState, plan_request
from streams.engine.adaptive import fetcher
from streams.engine.cache import CacheBackend, FetchCache, MemoryCache, cache_key
from streams.engine.cache.redis import DEFAULT_PREFIX
from streams.engine.inprocess import InProcessEngine
from streams.engine.outcomes import now_ms
from tests.support.clock import ManualClock

from .conftest import Demo, customer, new_engine, notes, one_node, redis_client, run

pytestmark = pytest.mark.integration
TTL_S = 30.0


def _served_from_cache(profile_notes: list[str], store: str) -> bool:
    return any(n.startswith(f"served from cache ({store}), age ") for n in profile_notes)


async def test_memory_cache_serves_a_repeat_until_its_ttl_expires(
    engine: InProcessEngine, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    timer = ManualClock()

    def memory_cache(*, backend: CacheBackend, redis_url: str, max_bytes: int) -> FetchCache:
        assert backend == "memory", backend
        return MemoryCache(max_bytes=max_bytes, timer=timer)

    monkeypatch.setattr(fetcher, "open_cache", memory_cache)  # the engine opens its cache with it
    pipeline = one_node(demo.upstreams, cache={"ttl_s": TTL_S})

    first = await run(engine, pipeline, key=5, tag="first")
    assert demo.calls() == 1
    assert not _served_from_cache(notes(first), "memory")

    second = await run(engine, pipeline, key=5, tag="second")
    print(f"\n{notes(second)}")
    assert demo.calls() == 1, "a fresh entry answers without a call"
    assert _served_from_cache(notes(second), "memory")
    assert second.data == first.data

    timer.now += TTL_S * 1.2  # the entry's TTL passes
    third = await run(engine, pipeline, key=5, tag="third")
    assert demo.calls() == 2, "an expired entry is fetched again"
    assert not _served_from_cache(notes(third), "memory")


@pytest.fixture
def shared_redis() -> Iterator[redis.Redis]:
    client = redis_client()
    try:
        yield client
    finally:
        client.close()


def _redis_key(engine: InProcessEngine, pipeline: Pipeline, key: int) -> str:
    """The Redis key the fetcher uses for the node's request, rendered as the engine renders it."""
    state = RequestState(
        plan_request(pipeline, keys=customer(key)), request_id="key", received_at_ms=now_ms()
    )
    (task,) = state.start(now_ms()).tasks
    ident = engine.sources.identity(task.source, pipeline.nodes[task.node].source)
    return DEFAULT_PREFIX + cache_key(source_ident=ident, request=task.request)


async def test_redis_cache_is_shared_by_two_workers(demo: Demo, shared_redis: redis.Redis) -> None:
    pipeline = one_node(demo.upstreams, cache={"ttl_s": 30, "store": "redis"})
    first, second = new_engine(), new_engine()
    entry = _redis_key(first, pipeline, 6)
    shared_redis.delete(entry)
    try:
        fetched = await run(first, pipeline, key=6, tag="worker-1")
        assert demo.calls() == 1
        assert shared_redis.exists(entry) == 1

        served = await run(second, pipeline, key=6, tag="worker-2")
        print(f"\n{notes(served)}")
        assert demo.calls() == 1, "the second worker was answered by the first one's entry"
        assert _served_from_cache(notes(served), "redis")
        assert served.data == fetched.data
    finally:
        shared_redis.delete(entry)
        for engine in (first, second):
            await engine.close()
            await engine.adaptive.close()
