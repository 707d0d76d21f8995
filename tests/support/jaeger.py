"""A real Jaeger for tests and tools: the binary ``scripts/jaeger/build`` put in the cache, on free ports.

:func:`running_jaeger` starts ``<cache>/jaeger/<version>/jaeger`` with ``scripts/jaeger/config.yaml``
(in-memory storage, everything on 127.0.0.1) on free loopback ports, returns once the query API
answers and the OTLP/HTTP receiver accepts connections, and on exit stops the process (SIGTERM,
then SIGKILL) and removes its temporary folder. The cache is ``$GRAPHFETCH_CACHE``, by default
``~/.cache/graphfetch``; when the binary is not there, :class:`JaegerNotBuilt` says how to build it
(tests turn it into a skip). The UI bundle, when ``scripts/jaeger/build`` unpacked it, is served too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "jaeger"
CONFIG = SCRIPTS / "config.yaml"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
_PORT_TRIES = 3  # a free port can be taken between choosing it and Jaeger binding it


def version() -> str:
    """The Jaeger version that ``scripts/jaeger/go.mod`` pins (``v1.75.0``)."""
    for line in (SCRIPTS / "go.mod").read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "github.com/jaegertracing/jaeger":
            return words[1]
    raise RuntimeError(f"no github.com/jaegertracing/jaeger requirement in {SCRIPTS / 'go.mod'}")


def cache_dir() -> Path:
    root = os.environ.get("GRAPHFETCH_CACHE") or str(Path.home() / ".cache" / "graphfetch")
    return Path(root) / "jaeger" / version()


class JaegerNotBuilt(RuntimeError):
    """The Jaeger binary is not in the cache."""


class JaegerFailed(RuntimeError):
    """Jaeger exited or did not answer while starting."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, kw_only=True)
class Jaeger:
    """A running Jaeger: where to send spans and where to read traces."""

    otlp_http_port: int
    query_port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def otlp_endpoint(self) -> str:
        """The value of ``OTEL_EXPORTER_OTLP_ENDPOINT`` for exporters (they add ``/v1/traces``)."""
        return f"http://127.0.0.1:{self.otlp_http_port}"

    @property
    def url(self) -> str:
        """The UI and the query API."""
        return f"http://127.0.0.1:{self.query_port}"

    def trace_url(self, trace_id: str) -> str:
        return f"{self.url}/trace/{trace_id}"

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """``GET /api/traces/<id>``: the trace in Jaeger's JSON (spans, processes), None if unknown."""
        response = httpx.get(f"{self.url}/api/traces/{trace_id}", timeout=10.0)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        data = response.json()["data"]
        return data[0] if data else None

    def traces(self, service: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        """The traces with a span of ``service`` from the last hour (``GET /api/traces?service=``)."""
        params: dict[str, str | int] = {"service": service, "limit": limit, "lookback": "1h"}
        response = httpx.get(f"{self.url}/api/traces", params=params, timeout=10.0)
        response.raise_for_status()
        return list(response.json()["data"] or [])

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _listening(process: subprocess.Popen[bytes], ports: set[int]) -> bool:
    """Whether ``process`` itself listens on every one of ``ports`` (not another program that took one)."""
    try:
        sockets = psutil.Process(process.pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return ports <= {c.laddr.port for c in sockets if c.status == psutil.CONN_LISTEN}


def _answers(jaeger: Jaeger) -> bool:
    if not _listening(jaeger.process, {jaeger.otlp_http_port, jaeger.query_port}):
        return False
    try:
        query = httpx.get(f"{jaeger.url}/api/services", timeout=2.0)
        otlp = httpx.get(f"{jaeger.otlp_endpoint}/v1/traces", timeout=2.0)  # 405: it only takes POSTs
    except httpx.TransportError:
        return False
    return query.status_code == 200 and otlp.status_code in (200, 405)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


def _start(binary: Path, folder: Path, env: Mapping[str, str], timeout_s: float) -> Jaeger:
    otlp_http, query = _free_port(), _free_port()
    log_path = folder / f"jaeger-{query}.log"
    env = {
        **env,
        "JAEGER_LISTEN_HOST": "127.0.0.1",
        "JAEGER_OTLP_HTTP_PORT": str(otlp_http),
        "JAEGER_QUERY_HTTP_PORT": str(query),
        "JAEGER_OTLP_GRPC_PORT": "0",  # unused here: any free port
        "JAEGER_QUERY_GRPC_PORT": "0",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(binary), "--config", f"file:{CONFIG}"],
            env=env,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C meant for the test run reaches it through _stop only
        )
    jaeger = Jaeger(otlp_http_port=otlp_http, query_port=query, log_path=log_path, process=process)
    deadline = time.monotonic() + timeout_s
    while not _answers(jaeger):
        if process.poll() is not None:
            raise JaegerFailed(f"Jaeger exited with {process.returncode}:\n{jaeger.log_tail()}")
        if time.monotonic() > deadline:
            _stop(process)
            raise JaegerFailed(f"Jaeger did not answer within {timeout_s:g} s:\n{jaeger.log_tail()}")
        time.sleep(0.1)  # nothing to wait on but its ports
    return jaeger


@contextmanager
def running_jaeger(*, timeout_s: float = START_TIMEOUT_S) -> Iterator[Jaeger]:
    """A Jaeger on free loopback ports for the length of the ``with``; nothing is left after it."""
    binary = cache_dir() / "jaeger"
    if not os.access(binary, os.X_OK):
        raise JaegerNotBuilt(
            f"Jaeger {version()} is not built ({binary} is missing): run scripts/jaeger/build"
        )
    # Inherited OTEL_* variables would point Jaeger's own SDK somewhere; JAEGER_* ones are set here.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "JAEGER_"))}
    ui = cache_dir() / "ui"
    if (ui / "index.html").exists():
        env["JAEGER_UI_ASSETS"] = str(ui)
    with tempfile.TemporaryDirectory(prefix="graphfetch-jaeger-") as folder:
        for attempt in range(1, _PORT_TRIES + 1):
            try:
                jaeger = _start(binary, Path(folder), env, timeout_s)
                break
            except JaegerFailed as exc:
                if attempt == _PORT_TRIES or "address already in use" not in str(exc):
                    raise
        try:
            yield jaeger
        finally:
            _stop(jaeger.process)
