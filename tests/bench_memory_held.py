"""What a parked request holds: Python heap per request in flight, by the code that allocated it.

Run: ``.venv/bin/python tests/bench_memory_held.py inprocess`` or
``.venv/bin/python tests/bench_memory_held.py kafka --bootstrap HOST:PORT`` (a broker from
``graphfetch broker --kind kafka``). Not a test (pytest does not collect it).

It parks requests of the bench's ``customer360-hold`` workload (its first level sleeps
far longer than the measurement) in the in-process engine, or in a worker with every role
run on this event loop, as :mod:`devkit.bench.memory_per_request` does: ``--warm`` first,
then ``--count``, then ``--count`` more. With ``tracemalloc`` on, the heap of the last two
readings is diffed and printed per added request, grouped by the innermost frame of
graphfetch's own code and the frame that allocated (``--top`` groups); ``--rss`` reads the
process's resident memory instead (tracemalloc off: its own traces would count), the figure
the bench reports.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import tracemalloc
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from devkit.bench.workloads import (
    Workload,
    customer360_held,
    load_workload_pipelines,
    low_credit_customers,
    write_configs,
)
from planner import Pipeline
from streams.engine.inprocess import InProcessEngine
from streams.heap import freeze_startup_heap
from streams.kafka.factory import make_producer
from streams.runtime.agents import ConnectorAgent
from streams.runtime.worker import Worker
from streams.settings import Settings
from tests.support.waiting import until

ROOT = Path(__file__).resolve().parents[1]
OWN_CODE = tuple(str(ROOT / package) + os.sep for package in ("planner", "streams", "connectors"))
HOLD_MS = 60_000.0
DEADLINE_MS = 90_000.0
FRAMES = 30


def held_workload() -> Workload:
    document: dict[str, Any] = yaml.safe_load((ROOT / "configs" / "customer360.yaml").read_text("utf-8"))
    return customer360_held(document, name="customer360-hold", hold_ms=HOLD_MS)


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def owner(trace: tracemalloc.Traceback) -> str:
    """The innermost frame of graphfetch's code, and the allocating frame when it is another's."""
    frames = list(trace)  # oldest first
    allocating = frames[-1]
    own = next((f for f in reversed(frames) if f.filename.startswith(OWN_CODE)), None)

    def where(frame: tracemalloc.Frame) -> str:
        name = frame.filename
        for prefix in (str(ROOT) + os.sep, *(p for p in sys.path if p)):
            if name.startswith(prefix):
                name = name[len(prefix) :].lstrip(os.sep)
                break
        return f"{name}:{frame.lineno}"

    if own is None:
        return f"(outside) {where(allocating)}"
    if own is allocating:
        return where(own)
    return f"{where(own)} -> {where(allocating)}"


async def measure(park: Callable[[int, int], Awaitable[None]], args: argparse.Namespace) -> None:
    """Park ``args.warm`` requests, then ``args.count``, read, ``args.count`` more, read; print the growth."""
    warm, count, top = args.warm, args.count, args.top
    await park(0, warm)
    freeze_startup_heap()
    await park(warm, warm + count)
    gc.collect()
    if args.rss:
        before = rss_bytes()
        await park(warm + count, warm + 2 * count)
        gc.collect()
        print(f"RSS: {(rss_bytes() - before) / 1024 / count:.1f} KiB per parked request")
        return
    first = tracemalloc.take_snapshot()
    await park(warm + count, warm + 2 * count)
    gc.collect()
    second = tracemalloc.take_snapshot()
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = second.filter_traces(ignore).compare_to(first.filter_traces(ignore), "traceback")
    by_owner: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for stat in diff:
        grouped = by_owner[owner(stat.traceback)]
        grouped[0] += stat.size_diff
        grouped[1] += stat.count_diff
    total = sum(s.size_diff for s in diff)
    print(f"Python heap: {total / count:.0f} B ({total / 1024 / count:.2f} KiB) per parked request")
    by_file: dict[str, int] = defaultdict(int)
    for name, (size, _) in by_owner.items():
        by_file[name.split(":", 1)[0]] += size
    print("by file of graphfetch's innermost frame:")
    for name, size in sorted(by_file.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{size / count:8.0f} B  {name}")
    print("by line:")
    for name, (size, blocks) in sorted(by_owner.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"{size / count:8.0f} B {blocks / count:6.1f} blocks  {name}")
    for stat in diff[: args.traces]:
        print(f"\n{stat.size_diff / count:8.0f} B {stat.count_diff / count:6.1f} blocks")
        print("\n".join(stat.traceback.format(limit=args.depth)))


async def inprocess(
    pipeline: Pipeline, workload: Workload, keys: list[str], args: argparse.Namespace
) -> None:
    async with InProcessEngine() as engine:
        parked: list[asyncio.Task[Any]] = []

        async def park(start: int, stop: int) -> None:
            for i in range(start, stop):
                request = engine.execute(
                    pipeline,
                    keys=workload.keys(keys[i % len(keys)]),
                    deadline_ms=DEADLINE_MS,
                    request_id=f"held-{i}",
                )
                parked.append(asyncio.ensure_future(request))
            await asyncio.sleep(1.0)  # every request reaches its first level's sleep

        try:
            await measure(park, args)
        finally:
            for job in parked:
                job.cancel()
            await asyncio.gather(*parked, return_exceptions=True)


async def kafka(
    folder: Path,
    pipelines: dict[str, Pipeline],
    workload: Workload,
    keys: list[str],
    args: argparse.Namespace,
) -> None:
    settings = Settings(bootstrap=args.bootstrap, configs=folder, stop_timeout_ms=5_000).isolated(
        f"memheld-{os.getpid()}"
    )
    worker = Worker(settings, pipelines=pipelines)
    job = asyncio.ensure_future(worker.run())
    producer = make_producer(settings)
    await producer.start()
    try:
        await until(lambda: worker.ready.is_set() or job.done(), timeout_s=60, what="the worker's start")
        if job.done():
            job.result()
        connector = next(a for a in worker.agents if isinstance(a, ConnectorAgent))
        first_level = 2  # crm and support, both held

        async def park(start: int, stop: int) -> None:
            for i in range(start, stop):
                request_id = f"held-{i}"
                payload = {
                    "request_id": request_id,
                    "pipeline": workload.name,
                    "keys": workload.keys(keys[i % len(keys)]),
                    "deadline_ms": DEADLINE_MS,
                }
                await producer.send(
                    settings.requests_topic, json.dumps(payload).encode(), key=request_id.encode()
                )
            await producer.flush()
            await until(
                lambda: worker.ctx.requests_in_flight >= stop and len(connector.jobs) >= first_level * stop,
                timeout_s=60,
                what=f"{stop} requests parked",
            )
            await asyncio.sleep(1.0)  # the last tasks' fetches reach their sleep

        await measure(park, args)
    finally:
        await producer.stop()
        worker.stop()
        await asyncio.gather(job, return_exceptions=True)


async def main(args: argparse.Namespace) -> None:
    workload = held_workload()
    keys = low_credit_customers(500)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_configs(folder, [workload], output_topic=f"memheld-{os.getpid()}.profiles")
        pipelines = load_workload_pipelines(folder, env=dict(os.environ))
        if not args.rss:
            tracemalloc.start(FRAMES)
        if args.runtime == "inprocess":
            await inprocess(pipelines[workload.name], workload, keys, args)
        else:
            await kafka(folder, pipelines, workload, keys, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runtime", choices=["inprocess", "kafka"])
    parser.add_argument("--bootstrap", help="the broker, for kafka")
    parser.add_argument("--warm", type=int, default=20, help="requests parked before the readings (20)")
    parser.add_argument("--count", type=int, default=100, help="requests added between readings (100)")
    parser.add_argument("--top", type=int, default=40, help="groups printed (40)")
    parser.add_argument("--traces", type=int, default=0, help="largest single tracebacks printed (0)")
    parser.add_argument("--depth", type=int, default=6, help="frames of each traceback printed (6)")
    parser.add_argument("--rss", action="store_true", help="resident memory instead of the Python heap")
    asyncio.run(main(parser.parse_args()))
