"""Worker processes export their spans with OTLP/HTTP to a real receiver; a dead collector blocks nothing."""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from devkit.demo.server import DemoServer
from devkit.demo.server_settings import DemoSettings
from streams.settings import Settings
from tests.support.budgets import UNHURRIED
from tests.support.clients import produce_requests, wait_for_profile

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).parents[3] / "configs" / "customer360.yaml"
GRAPHFETCH = str(Path(sys.executable).with_name("graphfetch"))


class _Receiver:
    """An OTLP/HTTP traces endpoint that decodes the protobuf payloads it receives."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, dict[str, str]]] = []  # (trace id, span name, resource attrs)
        self.received = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource_spans in request.resource_spans:
                    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                    for scope in resource_spans.scope_spans:
                        for span in scope.spans:
                            receiver.spans.append((span.trace_id.hex(), span.name, resource))
                receiver.received.set()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    with _Receiver() as r:
        yield r


async def _one_request(
    kafka_bootstrap: str, name: str, tmp_path: Path, otlp_endpoint: str
) -> tuple[dict[str, object] | None, Path]:
    async with DemoServer(DemoSettings(port=0, db_url=f"sqlite+aiosqlite:///{tmp_path}/demo.db")) as demo:
        folder = tmp_path / "configs"
        folder.mkdir()
        output = f"{name}.profiles"
        config = yaml.safe_load(CONFIG.read_text())
        config["output"]["topic"] = output
        config["defaults"].update(UNHURRIED)
        (folder / "c360.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        env = {
            **os.environ,
            "GRAPHFETCH_BOOTSTRAP": kafka_bootstrap,
            "GRAPHFETCH_CONFIGS": str(folder),
            "GRAPHFETCH_REQUESTS_TOPIC": f"{name}.requests",
            "GRAPHFETCH_RESULTS_TOPIC": f"{name}.results",
            "GRAPHFETCH_DLQ_TOPIC": f"{name}.dlq",
            "GRAPHFETCH_TASKS_TOPIC_PREFIX": f"{name}.tasks.",
            "GRAPHFETCH_CONFIGS_TOPIC": f"{name}.configs",
            "GRAPHFETCH_GROUP_PREFIX": name,
            "GRAPHFETCH_PARTITIONS": "2",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
            "WAREHOUSE_DSN": f"sqlite+aiosqlite:///{tmp_path}/demo.db",
            **{
                f"{s.upper()}_URL": f"{demo.url}/{s}" for s in ("crm", "orders", "support", "loyalty", "risk")
            },
        }
        env.pop("OTEL_SDK_DISABLED", None)
        log = tmp_path / "worker.log"
        with log.open("wb") as out:
            worker = subprocess.Popen([GRAPHFETCH, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            settings = Settings(bootstrap=kafka_bootstrap, requests_topic=f"{name}.requests")
            ids = await produce_requests(settings, "customer360", {"customer_id": "C00007"}, id_prefix=name)
            profile = await wait_for_profile(settings, output, ids[0], timeout_s=60)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(worker.wait, 20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        return profile, log


async def test_worker_spans_reach_an_otlp_receiver(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path, receiver: _Receiver
) -> None:
    profile, log = await _one_request(kafka_bootstrap, unique_name, tmp_path, receiver.url)
    assert profile is not None, log.read_text()[-3000:]
    trace_id = str(profile["trace_id"])
    assert await asyncio.to_thread(receiver.received.wait, 10), "the receiver got nothing"
    names = {name for tid, name, _ in receiver.spans if tid == trace_id}
    assert {"plan customer360", "fetch customer", "aggregate customer", "publish customer360"} <= names, names
    services = {res.get("service.name") for tid, _, res in receiver.spans if tid == trace_id}
    assert services == {"graphfetch-worker"}


async def test_workers_keep_serving_when_the_collector_is_down(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    profile, log = await _one_request(kafka_bootstrap, unique_name, tmp_path, dead)
    assert profile is not None, log.read_text()[-3000:]
    assert profile["status"] == "complete"
