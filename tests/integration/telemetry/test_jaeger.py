"""customer360 requests through two worker processes, their traces read back from a real Jaeger.

Jaeger (v1.75.0, the binary ``scripts/jaeger/build`` puts in the cache) runs on free loopback ports
(:mod:`tests.support.jaeger`). One ``graphfetch worker`` plans and aggregates, another fetches;
both export their spans with OTLP/HTTP to Jaeger. The test sends each request under a producer
span of its own (exported to Jaeger too, as ``graphfetch request`` does), waits for the profiles,
then reads every trace from Jaeger's query API until it holds what the profile says happened
(spans are batched, and reach Jaeger a moment after the profile) and checks its shape: one trace
per request and nothing of a request in another one, one root, every parent present, a fetch span
under its dispatch for every node the lineage says ran with one attempt span per attempt under
it, a skip span for every skipped node, and which worker recorded what.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from devkit.demo.server_settings import DemoSettings
from devkit.deployment.local import LocalDeployment
from devkit.deployment.upstreams import DemoUpstreams
from streams.kafka.factory import make_producer
from streams.kafka.topicreader import TopicCollector
from streams.settings import Settings
from streams.telemetry.tracing import headers_for
from tests.support.jaeger import Jaeger, JaegerNotBuilt, running_jaeger

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
PIPELINE_FILE = REPO / "configs" / "customer360.yaml"
PIPELINE = "customer360"
PARTITIONS = 2
# Credit scores 326, 816, 341, 680, 690, 807: risk is fetched for the first and third, skipped
# by its `when:` for the others.
CUSTOMERS = ("C00001", "C00002", "C00003", "C00004", "C00005", "C00006")
WORKER_SERVICE = "graphfetch-worker"
CLIENT_SERVICE = "graphfetch-test-client"
FRONT, FETCHER = "front", "fetcher"  # service.instance.id of the two workers
STARTUP_TIMEOUT_S = 60.0
PROFILES_TIMEOUT_S = 90.0
TRACES_TIMEOUT_S = 60.0


@dataclass(frozen=True, kw_only=True)
class _Span:
    """One span of a trace in Jaeger's JSON."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    instance: str | None
    tags: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.name!r} ({self.service}/{self.instance}, {self.span_id})"


def _spans(trace: dict[str, Any]) -> list[_Span]:
    spans = []
    for span in trace["spans"]:
        parents = [r["spanID"] for r in span.get("references") or [] if r["refType"] == "CHILD_OF"]
        process = trace["processes"][span["processID"]]
        resource = {t["key"]: t["value"] for t in process.get("tags") or []}
        spans.append(
            _Span(
                trace_id=span["traceID"],
                span_id=span["spanID"],
                parent_id=parents[0] if parents else None,
                name=span["operationName"],
                service=process["serviceName"],
                instance=resource.get("service.instance.id"),
                tags={t["key"]: t["value"] for t in span.get("tags") or []},
            )
        )
    return spans


@dataclass(frozen=True, kw_only=True)
class _Expected:
    """What a request's profile says happened: the nodes fetched (with their attempts) and skipped."""

    request_id: str
    trace_id: str
    attempts: dict[str, int]
    skipped: frozenset[str]

    @classmethod
    def of(cls, profile: dict[str, Any]) -> _Expected:
        attempts: dict[str, int] = {}
        skipped: set[str] = set()
        for lineage in profile["lineage"].values():
            node = lineage["node"]
            if node is None:
                continue
            if lineage["skipped"]:
                skipped.add(node)
            elif lineage["attempts"] > 0:
                attempts[node] = lineage["attempts"]
        return cls(
            request_id=profile["request_id"],
            trace_id=profile["trace_id"],
            attempts=attempts,
            skipped=frozenset(skipped),
        )

    def names(self) -> Counter[str]:
        """The span names the trace must hold, with how many of each (at least)."""
        names = Counter({f"send {PIPELINE}": 1, f"plan {PIPELINE}": 1, f"publish {PIPELINE}": 1})
        for node, attempts in self.attempts.items():
            for kind in ("dispatch", "queue", "fetch", "aggregate"):
                names[f"{kind} {node}"] += 1
            for attempt in range(1, attempts + 1):
                names[f"attempt {attempt}"] += 1
        for node in self.skipped:
            names[f"skip {node}"] += 1
        return names

    def complete(self, spans: list[_Span]) -> bool:
        """Whether every span expected arrived, and every span's parent did."""
        ids = {s.span_id for s in spans}
        return not (self.names() - Counter(s.name for s in spans)) and all(
            s.parent_id is None or s.parent_id in ids for s in spans
        )


# -- the deployment --------------------------------------------------------------------------------


@pytest.fixture
def jaeger() -> Iterator[Jaeger]:
    try:
        with running_jaeger() as running:
            yield running
    except JaegerNotBuilt as exc:
        pytest.skip(str(exc))


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[DemoUpstreams]:
    settings = DemoSettings(port=0, db_url=f"sqlite+aiosqlite:///{tmp_path}/demo.db")
    async with DemoUpstreams.in_loop(settings) as upstreams:
        yield upstreams


@pytest.fixture
async def deployment(
    kafka_bootstrap: str, unique_name: str, demo: DemoUpstreams, jaeger: Jaeger, tmp_path: Path
) -> AsyncIterator[LocalDeployment]:
    """Two ``graphfetch worker`` processes exporting to ``jaeger``: planner + aggregator, and connector."""
    config = yaml.safe_load(PIPELINE_FILE.read_text())
    config["output"]["topic"] = f"{unique_name}.profiles"
    # Budgets for a loaded two-core machine: the trace is what is checked, not the latency.
    config["defaults"].update({"timeout_ms": 5000, "deadline_ms": 30000})
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / PIPELINE_FILE.name).write_text(yaml.safe_dump(config, sort_keys=False))
    settings = Settings(
        bootstrap=kafka_bootstrap,
        configs=folder,
        partitions=PARTITIONS,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    ).isolated(unique_name)
    local = LocalDeployment(settings=settings, workdir=tmp_path, upstream_env=demo.env(), stop_timeout_s=30.0)
    async with local:
        for name, roles in ((FRONT, ("planner", "aggregator")), (FETCHER, ("connector",))):
            exporting = {
                "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "200",
                "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id={name}",
            }
            local.spawn(name, roles=roles, env=exporting, tracing=True)
        yield local


async def _send(settings: Settings, jaeger: Jaeger, request_ids: list[str]) -> dict[str, str]:
    """Produce one request per customer, each under a producer span exported to Jaeger; their trace ids.

    The spans come from a tracer provider of this test's own (not the process's global one, which
    another test may have installed), exporting synchronously, so they are in Jaeger on return."""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: CLIENT_SERVICE}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{jaeger.otlp_endpoint}/v1/traces"))
    )
    tracer = provider.get_tracer("tests.jaeger")
    producer = make_producer(settings)
    await producer.start()
    trace_ids = {}
    try:
        for request_id, customer in zip(request_ids, CUSTOMERS, strict=True):
            payload = {"request_id": request_id, "pipeline": PIPELINE, "keys": {"customer_id": customer}}
            with tracer.start_as_current_span(
                f"send {PIPELINE}", kind=SpanKind.PRODUCER, attributes={"graphfetch.request_id": request_id}
            ) as span:
                await producer.send_and_wait(
                    settings.requests_topic,
                    json.dumps(payload).encode(),
                    key=request_id.encode(),
                    headers=headers_for(span),
                )
            trace_ids[request_id] = f"{span.get_span_context().trace_id:032x}"
    finally:
        await producer.stop()
        provider.shutdown()
    return trace_ids


async def _read_traces(jaeger: Jaeger, expected: list[_Expected]) -> dict[str, list[_Span]]:
    """Each request's spans from Jaeger, re-read until complete (or the deadline: then as they are)."""
    traces: dict[str, list[_Span]] = {}
    deadline = time.monotonic() + TRACES_TIMEOUT_S
    pending = list(expected)
    while pending:
        for want in pending:
            trace = await asyncio.to_thread(jaeger.trace, want.trace_id)
            traces[want.request_id] = _spans(trace) if trace is not None else []
        pending = [w for w in pending if not w.complete(traces[w.request_id])]
        if not pending or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)  # Jaeger has no notification of a trace's arrival
    return traces


# -- the test --------------------------------------------------------------------------------------


def _check_trace(want: _Expected, spans: list[_Span]) -> None:
    """The shape of one request's trace (see the module docstring)."""
    rid = want.request_id
    names = Counter(s.name for s in spans)
    missing = want.names() - names
    assert not missing, f"{rid}: spans missing from trace {want.trace_id}: {dict(missing)}; got {dict(names)}"
    by_id = {s.span_id: s for s in spans}
    assert len(by_id) == len(spans), f"{rid}: a span id appears twice"
    assert {s.trace_id for s in spans} == {want.trace_id}
    for span in spans:  # nothing of another request in this trace
        assert span.tags.get("graphfetch.request_id", rid) == rid, f"{rid}: {span} belongs to another request"
        task_id = span.tags.get("graphfetch.task_id")
        assert task_id is None or task_id.startswith(f"{rid}/"), f"{rid}: {span} is of task {task_id}"
        assert span.parent_id is None or span.parent_id in by_id, (
            f"{rid}: the parent of {span} is not in the trace"
        )

    roots = [s for s in spans if s.parent_id is None]
    assert len(roots) == 1, f"{rid}: roots {[str(r) for r in roots]}"
    (root,) = roots
    assert (root.name, root.service) == (f"send {PIPELINE}", CLIENT_SERVICE), f"{rid}: root {root}"

    def one(name: str) -> _Span:
        found = [s for s in spans if s.name == name]
        assert len(found) == 1, f"{rid}: {len(found)} spans {name!r}"
        return found[0]

    def parent(span: _Span) -> _Span:
        assert span.parent_id is not None, f"{rid}: {span} has no parent"
        return by_id[span.parent_id]

    assert parent(one(f"plan {PIPELINE}")) is root
    publish = parent(one(f"publish {PIPELINE}"))  # under what finished the request: its last result
    assert publish.name.startswith("aggregate "), f"{rid}: the profile was published under {publish}"
    for node, attempts in want.attempts.items():
        fetch = one(f"fetch {node}")
        dispatch = parent(fetch)
        assert dispatch.name == f"dispatch {node}", f"{rid}: {fetch} is under {dispatch}"
        assert parent(one(f"queue {node}")) is dispatch
        assert parent(one(f"aggregate {node}")) is fetch, (
            f"{rid}: the result of {node} is not aggregated under its fetch"
        )
        tries = [s for s in spans if s.name.startswith("attempt ") and s.tags.get("graphfetch.node") == node]
        assert sorted(s.name for s in tries) == [f"attempt {i}" for i in range(1, attempts + 1)], (
            f"{rid}: {node} made {attempts} attempts (lineage), its attempt spans: {[str(s) for s in tries]}"
        )
        assert all(parent(s) is fetch for s in tries), f"{rid}: attempt spans of {node} not under {fetch}"
        # Planning, dispatching and aggregating happen in one worker, fetching in the other.
        assert (dispatch.instance, fetch.instance) == (FRONT, FETCHER), f"{rid}: {dispatch}, {fetch}"
        assert {s.instance for s in tries} == {FETCHER}
    for node in want.skipped:
        one(f"skip {node}")
        assert f"fetch {node}" not in names, f"{rid}: {node} was skipped but fetched"
    for span in spans:
        if span.service == WORKER_SERVICE:
            expected = FETCHER if span.name.split(" ")[0] in ("queue", "fetch", "attempt") else FRONT
            assert span.instance == expected, f"{rid}: {span} recorded by the wrong worker"


async def test_each_request_is_one_complete_trace_in_jaeger(
    deployment: LocalDeployment, jaeger: Jaeger, unique_name: str
) -> None:
    settings = deployment.settings
    output = f"{unique_name}.profiles"
    topics = [settings.requests_topic, settings.results_topic, settings.tasks_topic("http")]
    await deployment.wait_for_topics(
        [*topics, settings.tasks_topic("sql"), output], timeout_s=STARTUP_TIMEOUT_S
    )
    profiles = TopicCollector(settings=settings, topic=output, partitions=PARTITIONS)
    await profiles.start()
    try:
        request_ids = [f"{unique_name}-{i}" for i in range(len(CUSTOMERS))]
        trace_ids = await _send(settings, jaeger, request_ids)
        arrived = await profiles.wait_for(request_ids, timeout_s=PROFILES_TIMEOUT_S)
        if not arrived:
            pytest.fail(f"{profiles.count(request_ids)} of {len(request_ids)} profiles:\n{deployment.logs()}")
    finally:
        await profiles.stop()

    expected = []
    for rid in request_ids:
        profile = profiles.by_request_id[rid][0].value
        assert profile["trace_id"] == trace_ids[rid], f"{rid}: the profile's trace is not the producer's"
        assert profile["status"] != "failed", profile["errors"]
        expected.append(_Expected.of(profile))
    assert {"customer", "orders", "tickets", "loyalty", "credit"} <= set(expected[0].attempts)
    assert any("risk" in e.attempts for e in expected), "no request fetched risk"
    assert any("risk" in e.skipped for e in expected), "no request skipped risk"

    traces = await _read_traces(jaeger, expected)
    for want in expected:
        _check_trace(want, traces[want.request_id])
    # One trace per request and no other: a span that lost its context would start a trace of its own.
    stored = await asyncio.to_thread(jaeger.traces, WORKER_SERVICE)
    assert sorted(t["traceID"] for t in stored) == sorted(trace_ids.values())
