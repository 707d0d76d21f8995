"""Every decision is a ``graphfetch.decision`` event on its fetch span, in the words of the lineage note.

On Kafka (below) and in process (the last test, ``graphfetch run``'s engine).

One in-process worker (every role) on a real broker, the demo upstreams and an in-memory span
exporter. A pipeline with a TTL-cached node (``customer``, ``cache: {ttl_s: 30}``) and a plain one
(``tickets``) is asked for the same customer twice: the second request's customer is served from
the cache, a decision whose note must be the span event's message; every other fetch decided
nothing and must carry no decision event. Without enough history (the default 20 samples) no
other decision can be taken, so the expectation is exact.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devkit.demo.control_client import DemoControl
from devkit.demo.server import DemoServer
from devkit.demo.server_settings import DemoSettings, FaultSettings
from planner import Profile, parse_pipeline
from streams.engine.inprocess import InProcessEngine
from streams.kafka.factory import make_producer
from streams.kafka.topicreader import TopicCollector
from streams.liveconfig.catalog import load_catalog
from streams.settings import Settings
from streams.telemetry import tracing
from tests.support.waiting import until
from tests.support.workers import running_worker

pytestmark = pytest.mark.integration
PIPELINE = "decisions"
PARTITIONS = 2
DECISION = "graphfetch.decision"
PROFILE_TIMEOUT_S = 60.0
HOLD_MS = 2_000.0
"""How long the two holders of the limit's slots keep them: far past the shed request's deadline."""


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """An SDK provider with an in-memory exporter for this test only.

    OTel lets a process set its global provider once, and a tracer obtained before that binds to
    the first provider for good; so the provider is patched in where graphfetch reads it (the
    global ``tracing_enabled`` asks, and ``streams.telemetry.tracing.tracer``) and both are restored
    afterwards, leaving other tests' providers as they were.
    """
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    monkeypatch.setattr(tracing, "_PROVIDER_FROM_ENV", False)
    monkeypatch.setattr(tracing, "tracer", provider.get_tracer("graphfetch"))
    assert tracing.tracing_enabled()
    yield memory
    provider.shutdown()


@pytest.fixture
async def demo() -> AsyncIterator[DemoServer]:
    async with DemoServer(DemoSettings(port=0, db_url=None)) as server:
        yield server


def _document(demo_url: str, output: str) -> dict[str, Any]:
    return {
        "pipeline": PIPELINE,
        "output": {"topic": output, "key": "keys.customer_id"},
        "defaults": {"timeout_ms": 5000, "retries": 0, "deadline_ms": 20_000},
        "sources": {
            "crm": {"connector": "http", "base_url": f"{demo_url}/crm"},
            "support": {"connector": "http", "base_url": f"{demo_url}/support"},
        },
        "nodes": {
            "customer": {
                "source": "crm",
                "request": {"path": "/customers/{keys.customer_id}"},
                "cache": {"ttl_s": 30},
            },
            "tickets": {
                "source": "support",
                "request": {"path": "/tickets", "params": {"customer": "{keys.customer_id}"}},
            },
        },
        "fields": {"name": "customer.name", "open_tickets": "tickets.open"},
    }


def _fetch_span(spans: list[ReadableSpan], profile: Profile, node: str) -> ReadableSpan:
    assert profile.trace_id is not None
    found = [
        s
        for s in spans
        if s.name == f"fetch {node}"
        and f"{s.context.trace_id:032x}" == profile.trace_id
        and (s.attributes or {}).get("graphfetch.request_id") == profile.request_id
    ]
    assert len(found) == 1, (node, profile.request_id, [s.name for s in spans])
    return found[0]


def _decisions(span: ReadableSpan) -> list[str]:
    return [str((e.attributes or {}).get("message")) for e in span.events if e.name == DECISION]


async def test_cache_hit_is_a_decision_event_on_the_fetch_span_with_the_lineage_text(
    kafka_bootstrap: str, unique_name: str, demo: DemoServer, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    output = f"{unique_name}.profiles"
    (folder / f"{PIPELINE}.yaml").write_text(yaml.safe_dump(_document(demo.url, output)))
    settings = Settings(
        bootstrap=kafka_bootstrap, configs=folder, partitions=PARTITIONS, watch_configs=False
    ).isolated(unique_name)
    ids = [f"first-{uuid.uuid4().hex[:8]}", f"second-{uuid.uuid4().hex[:8]}"]

    async with running_worker(settings, pipelines=load_catalog([folder])):
        collector = TopicCollector(settings=settings, topic=output, partitions=PARTITIONS)
        await collector.start()
        producer = make_producer(settings)
        await producer.start()
        try:
            for request_id in ids:  # one after the other: the second must find the first's entry
                payload = {"request_id": request_id, "pipeline": PIPELINE, "keys": {"customer_id": "C00042"}}
                await producer.send_and_wait(settings.requests_topic, json.dumps(payload).encode())
                assert await collector.wait_for([request_id], timeout_s=PROFILE_TIMEOUT_S), request_id
        finally:
            await producer.stop()
            await collector.stop()
    first, second = (Profile.model_validate(collector.by_request_id[i][0].value) for i in ids)
    finished = list(spans.get_finished_spans())

    assert first.status == second.status == "complete"
    [hit] = second.lineage["name"].notes
    print(f"\n{hit}")
    assert hit.startswith("served from cache (memory), age ")
    assert _decisions(_fetch_span(finished, second, "customer")) == [hit]
    # Fetches that decided nothing: no note, no decision event.
    for profile, node, field in (
        (first, "customer", "name"),
        (first, "tickets", "open_tickets"),
        (second, "tickets", "open_tickets"),
    ):
        assert profile.lineage[field].notes == []
        assert _decisions(_fetch_span(finished, profile, node)) == [], (profile.request_id, node)


async def test_in_process_request_is_one_trace_with_decisions_on_its_fetch_spans(
    demo: DemoServer, spans: InMemorySpanExporter
) -> None:
    """``graphfetch run``'s engine traces like the Kafka runtime: one ``run`` span, a ``fetch`` span
    per node under it, each decision an event in the words of the lineage note."""
    pipeline = parse_pipeline(yaml.safe_dump(_document(demo.url, "unused")), file=f"{PIPELINE}.yaml")
    async with InProcessEngine() as engine:
        first, second = [
            (await engine.execute(pipeline, keys={"customer_id": "C00042"}, request_id=rid)).profile
            for rid in ("run-first", "run-second")
        ]
    finished = list(spans.get_finished_spans())

    assert first.status == second.status == "complete"
    assert first.trace_id is not None
    assert second.trace_id is not None
    assert first.trace_id != second.trace_id
    for profile in (first, second):
        [run] = [
            s
            for s in finished
            if s.name == f"run {PIPELINE}" and f"{s.context.trace_id:032x}" == profile.trace_id
        ]
        for node in ("customer", "tickets"):
            fetch = _fetch_span(finished, profile, node)
            assert fetch.parent is not None
            assert fetch.parent.span_id == run.context.span_id
    [hit] = second.lineage["name"].notes
    assert hit.startswith("served from cache (memory), age ")
    assert _decisions(_fetch_span(finished, second, "customer")) == [hit]
    assert _decisions(_fetch_span(finished, first, "customer")) == []
    assert _decisions(_fetch_span(finished, second, "tickets")) == []


async def test_a_change_of_the_concurrency_limit_and_a_shed_are_decision_events_in_their_words(
    spans: InMemorySpanExporter,
) -> None:
    """``crm`` answers in 100 ms; its limit starts at 1 (ceiling 2). Ten requests one after another
    fill a window near the no-load latency: the limit rises to 2, a note on the fetch that closed
    the window and an event on its span. Then ``crm`` holds its calls for 2 s, two requests take
    both slots and a third, with 150 ms to live, is shed (the source takes 100 ms, as far as the
    limit knows): its profile's error and its fetch span's decision event say so in the same
    words. The slots stay taken for seconds, so the shed does not depend on how soon the third
    request follows the other two."""
    faults = {"crm": FaultSettings(latency_ms=100)}
    async with DemoServer(DemoSettings(port=0, db_url=None, faults=faults)) as demo:
        document = _document(demo.url, "unused")
        document["sources"]["crm"]["limits"] = {"max_concurrency": 2, "initial_limit": 1}
        document["nodes"] = {
            "customer": {"source": "crm", "request": {"path": "/customers/{keys.customer_id}"}}
        }
        document["fields"] = {"name": "customer.name"}
        pipeline = parse_pipeline(yaml.safe_dump(document), file=f"{PIPELINE}.yaml")
        async with InProcessEngine() as engine:
            source = await engine.sources.get("crm", pipeline.nodes["customer"].source)

            async def ask(i: int, deadline_ms: float = 5_000.0) -> Profile:
                emission = await engine.execute(
                    pipeline,
                    keys={"customer_id": f"C{i:05d}"},
                    deadline_ms=deadline_ms,
                    request_id=f"limit-{i}",
                )
                return emission.profile

            warm = [await ask(i) for i in range(10)]
            assert source.limit == 2
            await DemoControl(demo.url).set("crm", latency_ms=HOLD_MS)
            holders = [asyncio.create_task(ask(i)) for i in (100, 101)]
            await until(lambda: source.in_flight == 2, timeout_s=10.0, what="both slots taken")
            shed = await ask(102, deadline_ms=150.0)
            await asyncio.gather(*holders)
    finished = list(spans.get_finished_spans())

    [raised] = [p for p in warm if p.lineage["name"].notes]
    [note] = raised.lineage["name"].notes
    print(f"\n{note}")
    assert note.startswith("concurrency limit of crm raised 1 -> 2: median latency ")
    assert _decisions(_fetch_span(finished, raised, "customer")) == [note]

    error = shed.errors["customer"]
    print(error.message)
    assert error.kind == "shed"
    assert error.message.startswith("source 'crm': shed after waiting ")
    assert _decisions(_fetch_span(finished, shed, "customer")) == [error.message]
