"""Micro-benchmark of the planner's hot path and of loading configs.

Run: ``.venv/bin/python tests/bench_planning.py [--iterations N]``. Not a test (pytest
does not collect it): it prints median and p99 timings of

- planning a request: ``plan_request`` + ``RequestState(...).start(now)``, the work a
  planner agent does per request before it publishes the first tasks;
- the same with a cold graph-shape cache (the first request of a field selection);
- driving a whole request through the state machine (every result applied in order);
- loading and compiling the config (YAML text to a :class:`planner.Pipeline`);

for ``configs/customer360.yaml`` (6 nodes) and for a generated 200-node pipeline
(10 levels of 20 nodes, each reading up to 3 nodes of the level above).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from planner import Outcome, Pipeline, RequestState, parse_pipeline, plan_request

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
NOW_MS = 1_800_000_000_000.0


def generated_pipeline_text(*, levels: int = 10, width: int = 20, seed: int = 7) -> str:
    """A layered pipeline of ``levels * width`` nodes; every node reads up to 3 nodes above it."""
    rng = random.Random(seed)
    nodes: dict[str, Any] = {}
    for level in range(levels):
        for i in range(width):
            name = f"l{level}n{i}"
            request: dict[str, Any] = {"path": f"/items/{{keys.id}}/{name}"}
            if level:
                above = rng.sample(range(width), rng.randint(1, 3))
                request["params"] = {f"p{j}": f"{{l{level - 1}n{j}.v}}" for j in above}
            nodes[name] = {
                "source": rng.choice(["api", "db"]),
                "request": request,
                "optional": rng.random() < 0.3,
            }
    fields = {f"f{k}": f"l{rng.randrange(levels)}n{rng.randrange(width)}.v" for k in range(50)}
    document = {
        "pipeline": "generated200",
        "output": {"topic": "out", "key": "keys.id"},
        "defaults": {"deadline_ms": 5000},
        "keys": {"id": {"pattern": "^[A-Za-z0-9_-]{1,32}$"}},
        "sources": {
            "api": {"connector": "http", "base_url": "http://127.0.0.1:1"},
            "db": {"connector": "sql"},
        },
        "nodes": nodes,
        "fields": fields,
    }
    return yaml.safe_dump(document, sort_keys=False)


def measure(action: Callable[[], object], iterations: int) -> list[int]:
    """Nanoseconds of each call, after a short warm-up."""
    for _ in range(min(100, iterations)):
        action()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        action()
        samples.append(time.perf_counter_ns() - start)
    return samples


def summary(samples: list[int]) -> str:
    ordered = sorted(samples)
    median = statistics.median(ordered) / 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000
    return f"median {median:9.1f} µs   p99 {p99:9.1f} µs   (n={len(ordered)})"


def plan_and_start(pipeline: Pipeline, keys: dict[str, str]) -> RequestState:
    state = RequestState(plan_request(pipeline, keys=keys), request_id="r-1", received_at_ms=NOW_MS)
    state.start(NOW_MS)
    return state


def plan_cold(pipeline: Pipeline, keys: dict[str, str]) -> RequestState:
    pipeline.shapes.clear()
    return plan_and_start(pipeline, keys)


def drive(pipeline: Pipeline, keys: dict[str, str], value: Callable[[str], Any]) -> None:
    """Plan, then apply each dispatched task's result until the profile is emitted."""
    state = RequestState(plan_request(pipeline, keys=keys), request_id="r-1", received_at_ms=NOW_MS)
    queue = [t.node for t in state.start(NOW_MS).tasks]
    while queue:
        name = queue.pop()
        queue.extend(t.node for t in state.apply(Outcome(node=name, value=value(name)), NOW_MS).tasks)
    if not state.finished:
        raise RuntimeError("the benchmark request did not finish")


def bench(label: str, text: str, keys: dict[str, str], value: Callable[[str], Any], iterations: int) -> None:
    pipeline = parse_pipeline(text, file=label, env={})
    print(f"\n{label}: {len(pipeline.nodes)} nodes, {len(pipeline.fields)} fields")
    print(
        f"  plan + start (warm shape cache) {summary(measure(lambda: plan_and_start(pipeline, keys), iterations))}"
    )
    print(
        f"  plan + start (cold shape cache) {summary(measure(lambda: plan_cold(pipeline, keys), iterations // 10))}"
    )
    print(
        f"  whole request, all results      {summary(measure(lambda: drive(pipeline, keys, value), iterations // 10))}"
    )
    load_runs = max(20, iterations // 500)
    print(
        f"  load + compile YAML             {summary(measure(lambda: parse_pipeline(text, env={}), load_runs))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10_000, help="planning iterations (default 10000)")
    args = parser.parse_args()
    customer = {"name": "Ada", "account_id": "A-1", "email": "a@x", "segment": "gold"}
    results: dict[str, Any] = {
        "customer": customer,
        "orders": {"items": [], "count": 0, "total_spent": 0},
        "credit": {"score": 600},
    }
    bench(
        "customer360",
        (CONFIGS / "customer360.yaml").read_text(encoding="utf-8"),
        {"customer_id": "C042"},
        lambda name: results.get(name, {}),
        args.iterations,
    )
    bench("generated200", generated_pipeline_text(), {"id": "k1"}, lambda name: {"v": name}, args.iterations)


if __name__ == "__main__":
    main()
