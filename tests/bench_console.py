"""How fast the console's pages open with 10,000 profiles and 1,000 dead letters on the topics.

Run: ``.venv/bin/python tests/bench_console.py [--profiles N] [--dead-letters N] [--runs N]``. Not a
test (pytest does not collect it). It starts a local broker (Apache Kafka where installed, else
Tansu), seeds a customer360 output topic with synthetic profiles (nine fields with lineage, like
the demo's) and the DLQ with dead letters, starts the console's view and pages in this process,
waits until the view has read everything, then times ``--runs`` GETs of each page and prints the
median and the slowest, the catch-up time and the process's resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import resource
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from devkit.brokers import choose_kind
from devkit.deployment.local import NO_BROKER_YET, LocalDeployment
from planner.profile import iso_ms
from streams.cli.shared_options import BrokerKind
from streams.console.cluster import ClusterView
from streams.console.server import bind, serve_view
from streams.kafka.factory import make_producer
from streams.liveconfig.catalog import load_catalog
from streams.settings import Settings

REPO = Path(__file__).resolve().parents[1]
FIELDS = (
    "name",
    "email",
    "segment",
    "orders",
    "total_spent",
    "open_tickets",
    "loyalty_tier",
    "credit_score",
    "risk",
)
CODES = ("invalid_json", "missing_key", "unknown_pipeline", "invalid_key")


def _profile(i: int, now_ms: float) -> bytes:
    at = iso_ms(now_ms - (10_000 - i) * 10)
    lineage = {
        f: {
            "node": "customer",
            "source": "crm",
            "connector": "http",
            "config_version": "3af4b578a8257ddd",
            "attempts": 1,
            "latency_ms": 12.5,
            "fetched_at": at,
            "skipped": False,
            "notes": ["hedged after 20 ms (p95 of customer = 20 ms); the hedge answered first"]
            if i % 20 == 0
            else [],
        }
        for f in FIELDS
    }
    return json.dumps(
        {
            "request_id": f"bench-{i}",
            "pipeline": "customer360",
            "config_version": "3af4b578a8257ddd",
            "status": "complete" if i % 10 else "partial",
            "keys": {"customer_id": f"C{i:05d}"},
            "data": {
                "name": f"Customer {i}",
                "orders": [{"id": n, "total": 12.5} for n in range(5)],
                "credit_score": 600,
            },
            "errors": {},
            "lineage": lineage,
            "timing": {"received_at": at, "completed_at": at, "latency_ms": 80.0},
            "trace_id": uuid.uuid4().hex,
        }
    ).encode()


def _dead_letter(i: int, settings: Settings, now_ms: float) -> bytes:
    raw = json.dumps({"request_id": f"bad-{i}", "pipeline": "customer360", "keys": {}}).encode()
    return json.dumps(
        {
            "reason": "missing key(s) 'customer_id' for pipeline 'customer360'",
            "code": CODES[i % len(CODES)],
            "source": {"topic": settings.requests_topic, "partition": i % 8, "offset": i},
            "key": None,
            "value": base64.b64encode(raw).decode(),
            "value_size": len(raw),
            "truncated": False,
            "failed_at": iso_ms(now_ms - (1_000 - i) * 1000),
        }
    ).encode()


async def _seed(settings: Settings, topic: str, values: list[bytes]) -> None:
    producer = make_producer(settings, linger_ms=20)
    await producer.start()
    try:
        acks = [await producer.send(topic, value) for value in values]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def _time_pages(url: str, paths: list[str], runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {p: [] for p in paths}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for _ in range(runs):
            for path in paths:
                started = time.perf_counter()
                response = await client.get(path)
                times[path].append(time.perf_counter() - started)
                response.raise_for_status()
    return times


async def _main(profiles: int, dead_letters: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="graphfetch-bench-console-") as folder:
        settings = Settings(bootstrap=NO_BROKER_YET, configs=REPO / "configs", partitions=8)
        async with LocalDeployment(
            settings=settings, workdir=Path(folder), broker=choose_kind(BrokerKind.AUTO)
        ) as deployment:
            settings = deployment.settings
            pipelines = load_catalog([settings.configs])
            await deployment.create_topics(pipelines.values())
            now_ms = time.time() * 1000
            output = pipelines["customer360"].config.output.topic
            await _seed(settings, output, [_profile(i, now_ms) for i in range(profiles)])
            await _seed(
                settings, settings.dlq_topic, [_dead_letter(i, settings, now_ms) for i in range(dead_letters)]
            )
            print(
                f"seeded {profiles} profiles on {output} and {dead_letters} dead letters on {settings.dlq_topic}"
            )

            started = time.perf_counter()
            async with ClusterView(settings) as view:
                kept = min(profiles, settings.console_max_profiles)
                wanted_letters = min(dead_letters, settings.console_max_dead_letters)
                async with asyncio.timeout(300):
                    while view.profiles.seen < profiles or len(view.dead_letters) < wanted_letters:  # noqa: ASYNC110 - the DLQ book has no event to wait on
                        await asyncio.sleep(0.05)
                catch_up = time.perf_counter() - started
                stopping = asyncio.Event()
                urls: list[str] = []
                listening = asyncio.Event()

                def announce(url: str) -> None:
                    urls.append(url)
                    listening.set()

                sock = bind("127.0.0.1", 0)
                serving = asyncio.ensure_future(serve_view(view, sock, stopping=stopping, announce=announce))
                await listening.wait()
                paths = [
                    "/pipelines",
                    "/pipelines/customer360",
                    "/health",
                    "/profiles",
                    f"/profiles?q=C{profiles - 1:05d}",
                    "/profiles?q=no-such-key",
                    f"/profiles/bench-{profiles - 1}",
                    "/dlq",
                    "/workers",
                    "/try",
                ]
                times = await _time_pages(urls[0], paths, runs)
                stopping.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await serving
                sock.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"console read {profiles} profiles (kept {kept}) and {dead_letters} dead letters in {catch_up:.1f} s; max RSS {rss_mb:.0f} MB"
    )
    print(f"{'page':<36} {'median':>9} {'slowest':>9}   ({runs} runs)")
    for path, values in times.items():
        print(f"{path:<36} {statistics.median(values) * 1000:7.1f} ms {max(values) * 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--dead-letters", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(_main(args.profiles, args.dead_letters, args.runs))


if __name__ == "__main__":
    main()
