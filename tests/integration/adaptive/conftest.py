"""Adaptive decisions against real upstream latency: the demo services, an in-process engine, Redis.

* ``upstreams`` and its autouse reset of the fault knobs come from the runtime suite
  (:mod:`tests.integration.runtime.conftest`): the demo services in a thread of this process.
* ``engine``: an :class:`~streams.engine.inprocess.InProcessEngine` with a fresh history per test
  (``min_samples`` 20, as the workers' default), so no test inherits another's observations.
* :class:`Demo` reads and zeroes ``/_stats``, the upstream's own count of the calls it received:
  the proof that a decision made (or saved) an upstream call.
* :func:`one_node` writes a one-node pipeline on the ``crm`` service with the adaptive and cache
  settings a test needs; :func:`until_learned` waits until the history drives its decisions.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
import yaml

from planner import Pipeline, Profile, parse_pipeline
from streams.engine.adaptive.fetcher import AdaptiveFetcher
from streams.engine.history import History, HistoryKey
from streams.engine.inprocess import InProcessEngine
from tests.integration.runtime.conftest import Upstreams, _healthy_upstreams, upstreams

__all__ = ["_healthy_upstreams", "upstreams"]

REDIS_URL = os.environ.get("GRAPHFETCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MIN_SAMPLES = 20


@dataclass(frozen=True)
class Demo:
    """The demo upstreams' knobs and counters, for one service."""

    upstreams: Upstreams

    def calls(self, service: str = "crm") -> int:
        response = httpx.get(f"{self.upstreams.url}/_stats", timeout=5.0)
        response.raise_for_status()
        return int(response.json()[service]["calls"])

    def reset_calls(self) -> None:
        httpx.delete(f"{self.upstreams.url}/_stats", timeout=5.0).raise_for_status()

    def set_faults(self, service: str, **knobs: float | bool) -> None:
        self.upstreams.set_faults(service, **knobs)


@pytest.fixture
def demo(upstreams: Upstreams) -> Demo:
    Demo(upstreams).reset_calls()
    return Demo(upstreams)


def new_engine() -> InProcessEngine:
    """An engine with an adaptive state of its own (history, caches, budgets), like a new worker;
    the engine does not close a state it was given: close both."""
    history = History(min_samples=MIN_SAMPLES)
    return InProcessEngine(
        adaptive=AdaptiveFetcher(history=history, redis_url=REDIS_URL, cache_max_bytes=2**20)
    )


@pytest.fixture
async def engine() -> AsyncIterator[InProcessEngine]:
    engine = new_engine()
    try:
        yield engine
    finally:
        await engine.close()
        await engine.adaptive.close()


def one_node(
    upstreams: Upstreams,
    *,
    name: str = "adaptive-test",
    timeout_ms: float = 2000,
    adaptive: Mapping[str, Any] | None = None,
    node_adaptive: Mapping[str, Any] | None = None,
    cache: Mapping[str, Any] | None = None,
    limits: Mapping[str, Any] | None = None,
) -> Pipeline:
    """``customer`` = ``GET /crm/customers/{keys.customer_id}``, no retries, output field ``name``;
    ``limits`` are the ``crm`` source's."""
    node: dict[str, Any] = {"source": "crm", "request": {"path": "/customers/{keys.customer_id}"}}
    if node_adaptive is not None:
        node["adaptive"] = dict(node_adaptive)
    if cache is not None:
        node["cache"] = dict(cache)
    source = {} if limits is None else {"limits": dict(limits)}
    document = {
        "pipeline": name,
        "output": {"topic": "adaptive.test", "key": "keys.customer_id"},
        "defaults": {
            "timeout_ms": timeout_ms,
            "retries": 0,
            "deadline_ms": 5000,
            "adaptive": dict(adaptive or {}),
        },
        "sources": {"crm": {"connector": "http", "base_url": f"{upstreams.url}/crm", **source}},
        "nodes": {"customer": node},
        "fields": {"name": "customer.name"},
    }
    return parse_pipeline(yaml.safe_dump(document), file=f"{name}.yaml")


def customer(i: int) -> dict[str, str]:
    return {"customer_id": f"C{i:05d}"}


async def run(
    engine: InProcessEngine, pipeline: Pipeline, *, key: int, deadline_ms: float = 5000, tag: str = ""
) -> Profile:
    emission = await engine.execute(
        pipeline, keys=customer(key), deadline_ms=deadline_ms, request_id=f"{tag or 'r'}-{key}-{id(pipeline)}"
    )
    return emission.profile


def notes(profile: Profile, field: str = "name") -> list[str]:
    lineage = profile.lineage.get(field)
    return list(lineage.notes) if lineage is not None else []


def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    return client


async def until_learned(engine: InProcessEngine, pipeline: Pipeline, *, node: str = "customer") -> None:
    """Wait until the fetcher's estimates of ``node`` come from history (they are memoised for about
    a second, so the observation that completes ``min_samples`` shows a little later)."""
    policy = pipeline.nodes[node].policy
    deadline = time.monotonic() + 5.0
    while engine.adaptive.estimates(pipeline.name, node, policy).p50 is None:
        if time.monotonic() > deadline:
            count = engine.adaptive.history.count(HistoryKey.node(pipeline.name, node))
            raise AssertionError(f"no estimates for {node} after 5 s ({count:.1f} observations)")
        await asyncio.sleep(0.05)  # the memo expires with time: there is no event to await
