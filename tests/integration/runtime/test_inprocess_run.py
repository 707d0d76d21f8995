"""`graphfetch run`: one request in process against the real demo upstreams.

The nodes of a level are fetched at the same time; optional failures and deadlines give partial
profiles; exit codes say the status.

customer360 runs with the budgets of :data:`UNHURRIED` instead of its own (300 ms attempts, a 1 s
deadline, which a loaded machine can spend on a fresh process's first fetches): what is checked is
which nodes ran, failed or were cut short, never how fast. The deadline test sets its own deadline.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from devkit.deployment.environment import graphfetch_command
from planner import Profile
from streams.engine.inprocess import InProcessEngine
from streams.liveconfig.catalog import load_catalog
from tests.support.budgets import UNHURRIED

from .conftest import REPO, Upstreams

pytestmark = pytest.mark.integration
LATENCY_MS = 150.0  # each HTTP upstream's latency: fetches of one level overlap for about this long
DEADLINE_MS = 5_000.0
"""The deadline test's: time enough for every other node on a loaded machine."""
SLOW_MS = 30_000.0
"""The deadline test's slow upstream: six times its deadline."""


def _configs(tmp_path: Path, *, tickets_timeout_ms: float | None = None) -> Path:
    """A folder with customer360.yaml under :data:`UNHURRIED` budgets (and the tickets node's timeout)."""
    config = yaml.safe_load((REPO / "configs" / "customer360.yaml").read_text())
    config["defaults"].update(UNHURRIED)
    if tickets_timeout_ms is not None:
        config["nodes"]["tickets"]["timeout_ms"] = tickets_timeout_ms
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "customer360.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def _run(upstreams: Upstreams, *args: str, configs: Path) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHFETCH_")}
    env.update(upstreams.env())
    env["OTEL_SDK_DISABLED"] = "true"
    done = subprocess.run(
        [*graphfetch_command(), "run", "customer360", "--configs", str(configs), *args],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.stdout, done.stderr.decode()[-2000:]
    return done.returncode, json.loads(done.stdout)


def _fetch_interval_ms(profile: Profile, field: str) -> tuple[float, float]:
    """When the fetch behind ``field`` started and ended, epoch ms (from its lineage)."""
    lineage = profile.lineage[field]
    assert lineage.fetched_at is not None, field
    ended = datetime.fromisoformat(lineage.fetched_at.replace("Z", "+00:00")).timestamp() * 1000
    return ended - lineage.latency_ms, ended


async def test_nodes_of_a_level_are_fetched_at_the_same_time(
    upstreams: Upstreams, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in upstreams.env().items():
        monkeypatch.setenv(name, value)
    pipeline = load_catalog([_configs(tmp_path)])["customer360"]
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
    assert latency >= critical_path  # three levels one after the other: a slower machine only adds
    # The HTTP fetches of each level were in flight at the same time: each started before any of
    # them ended (one after the other, each would start after the previous ended). Level 1 is
    # customer and tickets (which needs only the request's key), level 2 orders and loyalty.
    for fields in (("name", "open_tickets"), ("orders", "loyalty_tier")):
        level = {field: _fetch_interval_ms(profile, field) for field in fields}
        last_start = max(start for start, _ in level.values())
        first_end = min(end for _, end in level.values())
        assert last_start < first_end, level


def test_failing_optional_node_gives_partial_profile_naming_the_error(
    upstreams: Upstreams, tmp_path: Path
) -> None:
    upstreams.set_faults("loyalty", down=True)
    code, profile = _run(upstreams, "--key", "customer_id=C00042", configs=_configs(tmp_path))
    assert code == 2
    assert profile["status"] == "partial"
    assert profile["errors"]["loyalty"]["kind"] == "unavailable"
    assert profile["errors"]["loyalty"]["attempts"] == 3
    assert "loyalty_tier" not in profile["data"]
    assert profile["data"]["name"] == "Yara Costa"


def test_failing_required_node_fails_the_profile(upstreams: Upstreams, tmp_path: Path) -> None:
    upstreams.set_faults("crm", down=True)
    code, profile = _run(upstreams, "--key", "customer_id=C00042", configs=_configs(tmp_path))
    assert code == 1
    assert profile["status"] == "failed"
    assert profile["errors"]["customer"]["kind"] == "unavailable"
    assert profile["errors"]["orders"]["kind"] == "dependency_failed"


def test_deadline_gives_partial_profile_at_the_deadline_with_what_arrived(
    upstreams: Upstreams, tmp_path: Path
) -> None:
    # tickets' timeout is longer than its upstream's latency: only the deadline can cut it short.
    configs = _configs(tmp_path, tickets_timeout_ms=2 * SLOW_MS)
    upstreams.set_faults("support", latency_ms=SLOW_MS)
    code, profile = _run(
        upstreams, "--key", "customer_id=C00042", "--deadline-ms", f"{DEADLINE_MS:.0f}", configs=configs
    )
    assert code == 2
    assert profile["status"] == "partial"
    # In process, the attempt's own timeout is bounded by the same deadline: either may name it.
    assert profile["errors"]["tickets"]["kind"] in ("deadline", "timeout"), profile["errors"]
    assert profile["data"]["name"] == "Yara Costa"
    assert profile["timing"]["latency_ms"] >= DEADLINE_MS - 10, (
        "the profile came before the deadline"
    )  # clocks round
    assert profile["timing"]["latency_ms"] < SLOW_MS, "the profile waited for the slow fetch"
