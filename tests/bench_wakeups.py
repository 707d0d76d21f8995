"""Where the in-process engine's overhead over the floor comes from: its code, or waking from idle.

Run: ``.venv/bin/python tests/bench_wakeups.py [--requests N]``. Not a test (pytest
does not collect it). It runs customer360 on the null connector one request at a
time, the floor (:class:`devkit.bench.floor.SleepFloor`) and the engine
(:class:`streams.engine.inprocess.InProcessEngine`) in turn, twice:

- with the bench's upstream sleeps (critical path 35 ms): the process idles between
  the levels of every request, as it does against real upstreams;
- with 1 µs sleeps: the same code paths with no idle time between them.

For each it prints wall time and CPU time per request. If the engine's extra CPU
per request is much larger with the sleeps than without, the cost is not the
engine's work but what running it just after a wake-up costs on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from devkit.bench.floor import SleepFloor
from devkit.bench.workloads import (
    Workload,
    customer360_on_null,
    graph_facts,
    load_workload_pipelines,
    low_credit_customers,
    write_configs,
)
from streams.engine.inprocess import InProcessEngine
from streams.heap import freeze_startup_heap

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
WARMUP = 50


def workload(*, sleeping: bool) -> Workload:
    document: dict[str, Any] = yaml.safe_load((CONFIGS / "customer360.yaml").read_text(encoding="utf-8"))
    name = "customer360-null" if sleeping else "customer360-null-awake"
    if sleeping:
        return customer360_on_null(document, name=name)
    awake = customer360_on_null(document, name=name, sleep_ms=dict.fromkeys(document["sources"], 0.001))
    defaults = {**awake.document["defaults"], "timeout_ms": 1_000}  # not 2x the sleep: that times out
    return dataclasses.replace(awake, document={**awake.document, "defaults": defaults})


async def per_request(run: Any, keys: list[str]) -> tuple[float, float]:
    """Median wall milliseconds per request, and mean CPU milliseconds per request."""
    for key in keys[:WARMUP]:
        await run(key)
    walls = []
    cpu_before = time.process_time()
    for key in keys:
        started = time.perf_counter()
        await run(key)
        walls.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(walls), (time.process_time() - cpu_before) * 1000.0 / len(keys)


async def measure(sleeping: bool, requests: int) -> None:
    chosen = workload(sleeping=sleeping)
    with tempfile.TemporaryDirectory() as folder:
        write_configs(Path(folder), [chosen], output_topic="unused")
        pipeline = load_workload_pipelines(Path(folder), env=dict(os.environ))[chosen.name]
    floor = SleepFloor(facts=graph_facts(pipeline, chosen), node_ms=chosen.node_ms)
    customers = low_credit_customers(50)
    keys = [customers[i % len(customers)] for i in range(requests)]
    async with InProcessEngine() as engine:
        freeze_startup_heap()  # as the bench does

        async def engine_run(key: str) -> None:
            emission = await engine.execute(
                pipeline, keys=chosen.keys(key), deadline_ms=10_000.0, request_id=f"r-{key}"
            )
            if emission.profile.status != "complete":
                raise RuntimeError(f"the benchmark request came back {emission.profile.status}")

        floor_wall, floor_cpu = await per_request(floor.execute, keys)
        engine_wall, engine_cpu = await per_request(engine_run, keys)
    label = "upstream sleeps (35 ms critical path)" if sleeping else "1 us sleeps (no idle time)"
    print(f"\n{label}, {requests} requests one at a time:")
    print(f"  floor   wall p50 {floor_wall:8.3f} ms   CPU {floor_cpu:6.3f} ms a request")
    print(f"  engine  wall p50 {engine_wall:8.3f} ms   CPU {engine_cpu:6.3f} ms a request")
    print(f"  engine - floor: wall {engine_wall - floor_wall:+.3f} ms, CPU {engine_cpu - floor_cpu:+.3f} ms")


async def main(requests: int) -> None:
    await measure(True, requests)
    await measure(False, requests)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=300, help="measured requests per runtime (default 300)"
    )
    asyncio.run(main(parser.parse_args().requests))
