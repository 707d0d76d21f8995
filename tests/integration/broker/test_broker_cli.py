"""``graphfetch broker`` and ``graphfetch dev --broker``: real brokers in the foreground, nothing left behind.

Each kind runs as a user runs it, a ``graphfetch`` process: the first line of
stdout is ``bootstrap=HOST:PORT`` once clients are served, a signal stops it,
and afterwards neither the broker's process nor its files remain. The Apache
Kafka cases skip where its jars are not installed (``scripts/setup`` fetches
them; CI has them).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import psutil
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from devkit.brokers.apache_kafka import kafka_available

pytestmark = pytest.mark.integration

GRAPHFETCH = str(Path(sys.executable).with_name("graphfetch"))
REPO = Path(__file__).resolve().parents[3]
needs_kafka = pytest.mark.skipif(
    not kafka_available(), reason="Apache Kafka not installed (scripts/kafka/fetch)"
)
KINDS = ["tansu", pytest.param("kafka", marks=needs_kafka)]


def _kafka_workdirs() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("graphfetch-kafka-")}


def _broker_children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


async def _cluster_brokers(bootstrap: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        return len((await admin.describe_cluster())["brokers"])
    finally:
        await admin.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
async def test_broker_prints_its_bootstrap_first_and_leaves_nothing_after_a_signal(
    kind: str, stop_with: signal.Signals
) -> None:
    before = _kafka_workdirs()
    process = await asyncio.create_subprocess_exec(
        GRAPHFETCH,
        "broker",
        "--kind",
        kind,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        first = (await asyncio.wait_for(process.stdout.readline(), 120)).decode().strip()
        assert first.startswith("bootstrap=127.0.0.1:"), first
        bootstrap = first.removeprefix("bootstrap=")
        assert await _cluster_brokers(bootstrap) == 1
        children = _broker_children(process.pid)
        assert children, "the broker is not a child of graphfetch broker"
    finally:
        if process.returncode is None:
            process.send_signal(stop_with)
    await asyncio.wait_for(process.wait(), 60)
    err = (await process.stderr.read()).decode()
    assert process.returncode == 0, err
    assert "stopped." in err
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert _kafka_workdirs() <= before, "the broker's files were left behind"
    port = int(bootstrap.rsplit(":", 1)[1])
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the port still answers"


async def test_broker_says_so_and_exits_when_its_broker_dies() -> None:
    process = await asyncio.create_subprocess_exec(
        GRAPHFETCH,
        "broker",
        "--kind",
        "tansu",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        first = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert first.startswith("bootstrap="), first
        for child in _broker_children(process.pid):
            child.kill()
        await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
    err = (await process.stderr.read()).decode()
    assert process.returncode == 1, err
    assert "Tansu exited by itself" in err
    assert "Traceback" not in err


def test_kafka_without_its_jars_says_which_command_installs_them(tmp_path: Path) -> None:
    env = {**os.environ, "GRAPHFETCH_KAFKA_LIBS": str(tmp_path / "nothing-here")}
    done = subprocess.run(
        [GRAPHFETCH, "broker", "--kind", "kafka"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "scripts/kafka/fetch" in done.stderr
    assert "Traceback" not in done.stderr


def test_auto_takes_tansu_when_kafka_is_not_installed(tmp_path: Path) -> None:
    env = {**os.environ, "GRAPHFETCH_KAFKA_LIBS": str(tmp_path / "nothing-here")}
    process = subprocess.Popen(
        [GRAPHFETCH, "broker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("bootstrap=")
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert "Tansu ready" in err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_dev_serves_the_demo_requests_on_either_broker_and_says_which(kind: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHFETCH_", "OTEL_"))}
    env |= {"GRAPHFETCH_DEMO_PORT": str(port), "GRAPHFETCH_CONSOLE_PORT": "0", "OTEL_SDK_DISABLED": "true"}
    for service in ("crm", "orders", "support", "loyalty", "risk", "shipping"):
        env[f"{service.upper()}_URL"] = f"http://127.0.0.1:{port}/{service}"
    process = subprocess.Popen(
        [GRAPHFETCH, "dev", "--broker", kind, "--configs", str(REPO / "configs")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    console_page = None
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "graphfetch dev is running" in line:
                break
        console = re.search(r"^console\s+(http://\S+/)", "".join(lines), re.MULTILINE)
        if console:
            console_page = httpx.get(console.group(1) + "pipelines", timeout=30)
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=90)
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    name = {"tansu": "Tansu", "kafka": "Apache Kafka"}[kind]
    assert f"({name}, started in" in output
    statuses = [line.split()[1] for line in lines if " ms  trace " in line]
    assert len(statuses) == 3, output
    assert set(statuses) <= {"complete", "partial"}, output
    assert "stopped." in output
    assert console_page is not None, f"graphfetch dev printed no console URL:\n{output}"
    assert console_page.status_code == 200
    assert "customer360" in console_page.text
