"""`graphfetch run`: one request in process against the real demo upstreams.

A level costs its slowest node, not the sum of its nodes; optional failures and deadlines give
partial profiles; exit codes say the status.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from streams.catalog import load_catalog
from streams.inprocess import InProcessEngine

from .conftest import REPO, Upstreams, _graphfetch_command

pytestmark = pytest.mark.integration
LATENCY_MS = 150.0  # a level costs this; the sum of nodes is two levels more (slack for a busy machine)


def _run(upstreams: Upstreams, *args: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHFETCH_")}
    env.update(upstreams.env())
    env["OTEL_SDK_DISABLED"] = "true"
    done = subprocess.run(
        [*_graphfetch_command(), "run", "customer360", "--configs", str(REPO / "configs"), *args],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.stdout, done.stderr.decode()[-2000:]
    return done.returncode, json.loads(done.stdout)


async def test_nodes_of_a_level_run_in_parallel_so_latency_follows_the_critical_path(
    upstreams: Upstreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in upstreams.env().items():
        monkeypatch.setenv(name, value)
    pipeline = load_catalog([REPO / "configs"])["customer360"]
    for service in ("crm", "orders", "support", "loyalty", "risk"):
        upstreams.set_faults(service, latency_ms=LATENCY_MS)
    # C00001's credit score is low, so risk runs: customer -> orders/credit -> risk is the critical path,
    # three HTTP levels; all five HTTP nodes one after the other would cost five.
    async with InProcessEngine() as engine:  # graphfetch run's engine; warm: connections are open
        # C00003's score is low too: the warm-up starts every source, risk's included (a new HTTP
        # client can cost tens of ms, which the measured request must not pay).
        warm = await engine.execute(
            pipeline, keys={"customer_id": "C00003"}, deadline_ms=5000, request_id="warm-up"
        )
        assert warm.profile.data["risk"] is not None
        emission = await engine.execute(
            pipeline, keys={"customer_id": "C00001"}, deadline_ms=5000, request_id="measured"
        )
    profile = emission.profile
    assert profile.status == "complete"
    assert profile.data["risk"] is not None
    latency = profile.timing.latency_ms
    critical_path, sum_of_nodes = 3 * LATENCY_MS, 5 * LATENCY_MS
    print(
        f"\nrun: {latency:.1f} ms; critical path {critical_path:.0f} ms, sum of nodes {sum_of_nodes:.0f} ms"
    )
    assert critical_path <= latency < sum_of_nodes - LATENCY_MS / 2


def test_failing_optional_node_gives_partial_profile_naming_the_error(upstreams: Upstreams) -> None:
    upstreams.set_faults("loyalty", down=True)
    code, profile = _run(upstreams, "--key", "customer_id=C00042")
    assert code == 2
    assert profile["status"] == "partial"
    assert profile["errors"]["loyalty"]["kind"] == "unavailable"
    assert profile["errors"]["loyalty"]["attempts"] == 3
    assert "loyalty_tier" not in profile["data"]
    assert profile["data"]["name"] == "Yara Costa"


def test_failing_required_node_fails_the_profile(upstreams: Upstreams) -> None:
    upstreams.set_faults("crm", down=True)
    code, profile = _run(upstreams, "--key", "customer_id=C00042")
    assert code == 1
    assert profile["status"] == "failed"
    assert profile["errors"]["customer"]["kind"] == "unavailable"
    assert profile["errors"]["orders"]["kind"] == "dependency_failed"


def test_deadline_gives_partial_profile_at_the_deadline_with_what_arrived(upstreams: Upstreams) -> None:
    upstreams.set_faults("support", latency_ms=3000)
    code, profile = _run(upstreams, "--key", "customer_id=C00042", "--deadline-ms", "400")
    assert code == 2
    assert profile["status"] == "partial"
    assert "tickets" in profile["errors"]
    assert profile["data"]["name"] == "Yara Costa"
    assert 390 <= profile["timing"]["latency_ms"] < 900
