"""What operators do with a running cluster: scrape metrics, roll a pipeline back, remove one."""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess

import httpx
import pytest
import yaml

from devkit.deployment.environment import graphfetch_command
from planner import parse_pipeline
from tests.support.budgets import UNHURRIED

from .conftest import PIPELINE, Runtime

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(runtime: Runtime, *args: str) -> subprocess.CompletedProcess[str]:
    s = runtime.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHFETCH_")}
    env.update(
        {
            "GRAPHFETCH_BOOTSTRAP": s.bootstrap,
            "GRAPHFETCH_CONFIGS": str(s.configs),
            "GRAPHFETCH_CONFIGS_TOPIC": s.configs_topic,
            "OTEL_SDK_DISABLED": "true",
        }
    )
    return subprocess.run(
        [*graphfetch_command(), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def test_worker_serves_prometheus_metrics_on_loopback(runtime: Runtime) -> None:
    port = _free_port()
    runtime.extra_env["GRAPHFETCH_PROMETHEUS_PORT"] = str(port)
    runtime.tracing = True  # OTEL_SDK_DISABLED would turn metrics off too
    runtime.write_pipeline(defaults=UNHURRIED)  # the probe's profile complete, not partial
    await runtime.start(workers=1)  # its probe request has been answered
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    counts = re.findall(
        r'^graphfetch_request_duration_milliseconds_count\{graphfetch_pipeline="customer360",'
        r'graphfetch_status="complete"[^}]*\} (\d+\.\d+)$',
        text,
        re.MULTILINE,
    )
    assert counts, text[:2000]
    assert float(counts[0]) >= 1  # the probe request
    assert "graphfetch_node_duration_milliseconds_bucket" in text
    assert "graphfetch_requests_in_flight" in text
    assert "graphfetch_consumer_lag" in text


async def test_rollback_and_remove_change_what_the_cluster_serves(runtime: Runtime) -> None:
    await runtime.start(workers=1)
    path = runtime.settings.configs / "customer360.yaml"
    original = parse_pipeline(path.read_text(), file=str(path))
    config = yaml.safe_load(path.read_text())
    config["fields"]["country"] = "customer.country"
    pushed_file = runtime.workdir / "pushed.yaml"
    pushed_file.write_text(yaml.safe_dump(config, sort_keys=False))
    pushed = parse_pipeline(pushed_file.read_text(), file="pushed")

    done = _cli(runtime, "config", "push", str(pushed_file))
    assert done.returncode == 0, done.stderr
    await runtime.send([{"request_id": "on-pushed", "pipeline": PIPELINE, "keys": {"customer_id": "C00042"}}])
    assert (await runtime.wait_for_profiles(["on-pushed"], timeout_s=30))["on-pushed"].value[
        "config_version"
    ] == pushed.version

    listed = _cli(runtime, "config", "list")
    assert f"{original.version}" in listed.stdout
    assert f"{pushed.version}" in listed.stdout
    assert "<- active" in listed.stdout.splitlines()[-1] or "<- active" in listed.stdout

    done = _cli(runtime, "config", "rollback", PIPELINE)
    assert done.returncode == 0, done.stderr
    assert original.version in done.stdout
    await runtime.send(
        [{"request_id": "rolled-back", "pipeline": PIPELINE, "keys": {"customer_id": "C00042"}}]
    )
    profile = (await runtime.wait_for_profiles(["rolled-back"], timeout_s=30))["rolled-back"].value
    assert profile["config_version"] == original.version
    assert "country" not in profile["data"]

    done = _cli(runtime, "config", "remove", PIPELINE)
    assert done.returncode == 0, done.stderr
    await runtime.send(
        [{"request_id": "after-remove", "pipeline": PIPELINE, "keys": {"customer_id": "C00042"}}]
    )
    dlq = runtime.dead_letters
    assert await dlq.wait_until(
        lambda: any(base64.b64decode(r.value["key"]) == b"after-remove" for r in dlq.received), timeout_s=30
    ), runtime.logs()
    letter = next(r.value for r in dlq.received if base64.b64decode(r.value["key"]) == b"after-remove")
    assert letter["code"] == "removed_pipeline"
    assert "pipeline 'customer360' was removed" in letter["reason"]
