"""Adaptive decisions against real upstream latency, in process: what hedging and sharing buy and cost.

* **Hedging**: every HTTP demo service gets a heavy tail (5 % of calls 10 x
  slower); customer360 runs one request at a time, once with hedging off and
  once on, each arm after a warm-up that fills the history. The demo's own
  counters (``/_stats``) give the upstream calls of each arm, so the extra
  calls are what the upstreams saw, not what the client believes it sent.
* **Repeats**: a one-node pipeline asked for few distinct keys (Zipf) with a
  window of requests in flight, three ways: every request its own call,
  coalescing (identical in-flight fetches share a call), coalescing plus a
  memory cache. Hedging is off there, so the call counts show sharing alone.

Each arm has an engine of its own (a fresh history, cache and hedge budget),
like a new worker.
"""

from __future__ import annotations

import asyncio
import copy
import os
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from devkit.bench.context import BenchContext, Collected
from devkit.bench.results import AdaptiveFigures, Hedging, RepeatArm, Repeats
from devkit.bench.stats import summarise
from devkit.bench.workloads import REQUEST_DEADLINE_MS
from devkit.demo.control_client import DemoControl
from planner import Pipeline, Profile, parse_pipeline
from streams.engine.inprocess import InProcessEngine

TAIL_RATE, TAIL_FACTOR = 0.05, 10.0
HEDGE_QUANTILE, HEDGE_BUDGET = 0.9, 0.25
"""p95, the default, sits on the edge of a 5 % tail; p90 is inside the fast calls. After p90 a
tenth of the calls want a hedge, half of them merely slowish ones; a budget of 10 % was seen
spent on those, refusing the tail calls it was for. The budget is the ceiling, /_stats the cost."""
HEDGE_WARMUP = 40
"""Requests before measuring: above the history's min_samples (20), whatever the decay."""
ZIPF_S = 1.1
CACHE_TTL_S = 60.0
HTTP_SERVICES = ("crm", "orders", "support", "loyalty", "risk")


def planned_steps(ctx: BenchContext) -> int:
    """Progress steps :func:`run_adaptive` will tick."""
    return 2 * ctx.sizes.hedge_requests + 3 if ctx.options.wants("inprocess") else 0


async def run_adaptive(ctx: BenchContext, collected: Collected) -> None:
    if not ctx.options.wants("inprocess"):
        return
    demo = DemoControl(ctx.upstreams.url)
    try:
        hedging = await _hedging(ctx, demo)
        repeats = await _repeats(ctx, demo)
    finally:
        await demo.reset()
    collected.adaptive = AdaptiveFigures(hedging=hedging, repeats=repeats)


def _pipeline(
    ctx: BenchContext, document: Mapping[str, Any], *, name: str, adaptive: Mapping[str, Any]
) -> Pipeline:
    changed: dict[str, Any] = copy.deepcopy(dict(document))
    changed["pipeline"] = name
    changed["output"] = {**changed.get("output", {}), "topic": f"bench-{ctx.run_id}.adaptive"}
    changed["defaults"] = {**changed.get("defaults", {}), "adaptive": dict(adaptive)}
    return parse_pipeline(
        yaml.safe_dump(changed), file=f"{name}.yaml", env={**os.environ, **ctx.upstreams.env()}
    )


async def _execute(
    engine: InProcessEngine, pipeline: Pipeline, key: Mapping[str, str], request_id: str
) -> Profile:
    emission = await engine.execute(
        pipeline, keys=key, deadline_ms=REQUEST_DEADLINE_MS, request_id=request_id
    )
    return emission.profile


# -- hedging ------------------------------------------------------------------------------------


async def _hedging(ctx: BenchContext, demo: DemoControl) -> Hedging:
    ctx.progress.phase("adaptive: hedging on a heavy tail")
    await demo.set("default", tail_rate=TAIL_RATE, tail_factor=TAIL_FACTOR)
    document = ctx.customer360.document
    arms = {
        "without": _pipeline(ctx, document, name="bench-hedge-off", adaptive={"hedge": False}),
        "hedged": _pipeline(
            ctx,
            document,
            name="bench-hedge-on",
            adaptive={"hedge": True, "hedge_quantile": HEDGE_QUANTILE, "hedge_budget": HEDGE_BUDGET},
        ),
    }
    latencies: dict[str, list[float]] = {}
    calls: dict[str, int] = {}
    not_complete = hedged_fetches = 0
    for arm, pipeline in arms.items():
        async with InProcessEngine() as engine:
            for i in range(HEDGE_WARMUP):
                await _execute(
                    engine, pipeline, {"customer_id": ctx.keys[i % len(ctx.keys)]}, f"warm-{arm}-{i}"
                )
            await demo.reset_calls()
            latencies[arm] = []
            for i in range(ctx.sizes.hedge_requests):
                key = {"customer_id": ctx.keys[i % len(ctx.keys)]}
                started = time.perf_counter()
                profile = await _execute(engine, pipeline, key, f"{arm}-{i}")
                latencies[arm].append((time.perf_counter() - started) * 1000.0)
                not_complete += profile.status != "complete"
                hedged_fetches += sum(
                    any(note.startswith("hedged after ") for note in lineage.notes)
                    for lineage in profile.lineage.values()
                )
                ctx.progress.advance()
            calls[arm] = await demo.calls(HTTP_SERVICES)
    await demo.reset()
    return Hedging(
        tail=f"{TAIL_RATE:.0%} of calls {TAIL_FACTOR:g} x slower, every HTTP service",
        hedge_quantile=HEDGE_QUANTILE,
        hedge_budget=HEDGE_BUDGET,
        requests=ctx.sizes.hedge_requests,
        without=summarise(latencies["without"]),
        hedged=summarise(latencies["hedged"]),
        not_complete=not_complete,
        upstream_calls_without=calls["without"],
        upstream_calls_hedged=calls["hedged"],
        extra_calls_pct=100.0 * (calls["hedged"] - calls["without"]) / max(calls["without"], 1),
        hedged_fetches=hedged_fetches,
    )


# -- repeated keys ------------------------------------------------------------------------------


def _zipf_keys(keys: Sequence[str], *, count: int, seed: int) -> list[str]:
    """``count`` draws from ``keys`` with weights 1/rank**s: a few hot keys, a long tail."""
    weights = [1.0 / (rank**ZIPF_S) for rank in range(1, len(keys) + 1)]
    return random.Random(seed).choices(list(keys), weights=weights, k=count)


def _one_node_document(ctx: BenchContext) -> dict[str, Any]:
    source = ctx.customer360.document["sources"]["crm"]
    return {
        "pipeline": "bench-repeats",
        "output": {"topic": "bench.adaptive", "key": "keys.customer_id"},
        "defaults": {"timeout_ms": 1000, "retries": 0},
        "sources": {"crm": source},
        "nodes": {"customer": {"source": "crm", "request": {"path": "/customers/{keys.customer_id}"}}},
        "fields": {"name": "customer.name"},
    }


async def _repeats(ctx: BenchContext, demo: DemoControl) -> Repeats:
    sizes = ctx.sizes
    sequence = _zipf_keys(ctx.keys[: sizes.repeat_keys], count=sizes.repeat_requests, seed=ctx.options.seed)
    document = _one_node_document(ctx)
    arms: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
        ("every request calls", {"hedge": False, "coalesce": False}, None),
        ("coalescing", {"hedge": False, "coalesce": True}, None),
        ("coalescing + memory cache", {"hedge": False, "coalesce": True}, {"ttl_s": CACHE_TTL_S}),
    ]
    results = []
    for name, adaptive, cache in arms:
        ctx.progress.phase(f"adaptive: repeated keys, {name}")
        if cache is not None:
            document["nodes"]["customer"]["cache"] = cache
        pipeline = _pipeline(ctx, document, name="bench-repeats", adaptive=adaptive)
        await demo.reset_calls()
        latencies = await _windowed(pipeline, sequence, window=sizes.repeat_window, prefix=name)
        upstream_calls = await demo.calls(["crm"])
        results.append(
            RepeatArm(
                name=name,
                upstream_calls=upstream_calls,
                saved_pct=100.0 * (1.0 - upstream_calls / len(sequence)),
                latency=summarise(latencies),
            )
        )
        ctx.progress.advance()
    return Repeats(
        requests=len(sequence),
        keys=sizes.repeat_keys,
        distribution=f"Zipf, s={ZIPF_S:g}, seed {ctx.options.seed}",
        window=sizes.repeat_window,
        arms=results,
    )


async def _windowed(pipeline: Pipeline, sequence: Sequence[str], *, window: int, prefix: str) -> list[float]:
    """Every request of ``sequence`` with at most ``window`` in flight, on a fresh engine."""
    latencies: list[float] = []
    slots = asyncio.Semaphore(window)

    async def one(engine: InProcessEngine, i: int, key: str) -> None:
        async with slots:
            started = time.perf_counter()
            await _execute(engine, pipeline, {"customer_id": key}, f"{prefix}-{i}")
            latencies.append((time.perf_counter() - started) * 1000.0)

    async with InProcessEngine() as engine:
        await asyncio.gather(*(one(engine, i, key) for i, key in enumerate(sequence)))
    return latencies
