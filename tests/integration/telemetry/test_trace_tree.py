"""One trace per request across every Kafka hop, checked on a real broker with an in-memory exporter."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devkit.demo.server import DemoServer
from devkit.demo.server_settings import DemoSettings
from streams.liveconfig.catalog import load_catalog
from streams.runtime.worker import Worker
from streams.settings import Settings
from streams.telemetry.tracing import headers_for, tracer
from tests.support.budgets import UNHURRIED
from tests.support.clients import wait_for_profile

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).parents[3] / "configs" / "customer360.yaml"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """The SDK installed once for this module (OTel allows one global provider per process)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    yield memory
    memory.clear()


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[DemoServer]:
    async with DemoServer(DemoSettings(port=0, db_url=f"sqlite+aiosqlite:///{tmp_path}/demo.db")) as server:
        yield server


def _settings(bootstrap: str, name: str, configs: Path) -> Settings:
    return Settings(bootstrap=bootstrap, configs=configs, partitions=2, watch_configs=False).isolated(name)


def _children(spans: list[ReadableSpan]) -> dict[int, list[ReadableSpan]]:
    by_parent: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        if span.parent is not None:
            by_parent[span.parent.span_id].append(span)
    return by_parent


async def test_request_is_one_trace_from_producer_to_profile(
    kafka_bootstrap: str,
    unique_name: str,
    demo: DemoServer,
    exporter: InMemorySpanExporter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for service in ("crm", "orders", "support", "loyalty", "risk"):
        monkeypatch.setenv(f"{service.upper()}_URL", f"{demo.url}/{service}")
    monkeypatch.setenv("WAREHOUSE_DSN", f"sqlite+aiosqlite:///{tmp_path}/demo.db")
    folder = tmp_path / "configs"
    folder.mkdir()
    output = f"{unique_name}.profiles"
    config = yaml.safe_load(CONFIG.read_text())
    config["output"]["topic"] = output
    config["defaults"].update(UNHURRIED)  # retries stay 2: loyalty's three attempts
    (folder / "customer360.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    settings = _settings(kafka_bootstrap, unique_name, folder)
    pipelines = load_catalog([folder])
    # Two workers as two "processes": planning and aggregation apart from fetching.
    front = Worker(settings, pipelines=pipelines, roles=["planner", "aggregator"])
    fetchers = Worker(settings, pipelines=pipelines, roles=["connector"])
    jobs = [asyncio.ensure_future(front.run()), asyncio.ensure_future(fetchers.run())]
    async with httpx.AsyncClient(base_url=demo.url) as client:
        # loyalty answers 503: its node is retried (3 attempts) then fails (it is optional).
        (await client.put("/_control/loyalty", json={"down": True})).raise_for_status()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await asyncio.wait_for(asyncio.gather(front.ready.wait(), fetchers.ready.wait()), 30)
        request_id = f"trace-{uuid.uuid4().hex[:8]}"
        payload = {"request_id": request_id, "pipeline": "customer360", "keys": {"customer_id": "C00042"}}
        with tracer.start_as_current_span("producer send") as root:  # the request producer's own span
            await producer.send_and_wait(
                settings.requests_topic, json.dumps(payload).encode(), headers=headers_for(root)
            )
        profile = await wait_for_profile(settings, output, request_id, timeout_s=60)
    finally:
        await producer.stop()
        front.stop()
        fetchers.stop()
        await asyncio.gather(*jobs, return_exceptions=True)
    assert profile is not None, "no profile within 60 s"
    trace_id = f"{root.get_span_context().trace_id:032x}"
    assert profile["trace_id"] == trace_id, "the graph's trace must join the producer's"
    assert profile["status"] == "partial"
    assert profile["errors"]["loyalty"]["attempts"] == 3, profile["errors"]

    spans = [
        s for s in exporter.get_finished_spans() if s.context.trace_id == root.get_span_context().trace_id
    ]
    names = [s.name for s in spans]
    by_id = {s.context.span_id: s for s in spans}
    children = _children(spans)
    # Every span of the trace hangs off the producer's span: one tree, no orphan roots.
    root_id = root.get_span_context().span_id
    for span in spans:
        if span.context.span_id != root_id and span.name != "producer send":
            assert span.parent is not None, f"orphan span {span.name}"
            assert span.parent.span_id in by_id, f"orphan span {span.name}"
    plan = next(s for s in spans if s.name == "plan customer360")
    assert plan.parent is not None
    assert plan.parent.span_id == root.get_span_context().span_id
    for node in ("customer", "tickets", "orders", "credit", "loyalty"):
        fetch = next(s for s in spans if s.name == f"fetch {node}")
        dispatch = by_id[fetch.parent.span_id]  # type: ignore[union-attr]
        assert dispatch.name == f"dispatch {node}"
        assert f"queue {node}" in names
        attempts = [c for c in children[fetch.context.span_id] if c.name.startswith("attempt ")]
        assert len(attempts) == (3 if node == "loyalty" else 1), (node, [a.name for a in attempts])
    loyalty_fetch = next(s for s in spans if s.name == "fetch loyalty")
    assert [e.name for e in loyalty_fetch.events].count("retry_scheduled") == 2
    # credit of C00042 is 652: risk is skipped by its when:, and says so.
    skip = next(s for s in spans if s.name == "skip risk")
    assert skip.attributes is not None
    assert skip.attributes["graphfetch.skipped"] is True
    assert "fetch risk" not in names
    publish = next(s for s in spans if s.name == "publish customer360")
    assert publish.attributes is not None
    assert publish.attributes["graphfetch.request_id"] == request_id
    for span in spans:  # key values never become attributes
        assert "C00042" not in json.dumps(dict(span.attributes or {}))
