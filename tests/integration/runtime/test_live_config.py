"""Changing a running cluster's pipeline by pushing to graphfetch.configs: nothing lost or failed,
every profile on one version, the switch within a second; an invalid version changes nothing."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import pytest
import yaml

from planner import parse_pipeline
from streams.configtopic import ActiveRecord, VersionRecord, now_iso, publish_records

from .conftest import PIPELINE, Runtime

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _epoch_ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


async def _push(runtime: Runtime, text: str, version: str) -> None:
    at = now_iso()
    await publish_records(
        runtime.settings,
        [
            VersionRecord(pipeline=PIPELINE, version=version, text=text, pushed_at=at),
            ActiveRecord(pipeline=PIPELINE, version=version, at=at),
        ],
    )


async def test_pushed_version_takes_over_mid_stream_without_losing_or_failing_a_request(
    runtime: Runtime,
) -> None:
    runtime.write_pipeline(defaults={"timeout_ms": 2000, "deadline_ms": 10000})
    await runtime.start(workers=2)
    path = runtime.settings.configs / "customer360.yaml"
    old_text = path.read_text()
    old = parse_pipeline(old_text, file=str(path))
    config = yaml.safe_load(old_text)
    config["nodes"]["since"] = {"source": "crm", "request": {"path": "/customers/{keys.customer_id}"}}
    config["fields"]["customer_since"] = "since.since"
    config["fields"]["loyalty_points"] = "loyalty.points"
    new_text = yaml.safe_dump(config, sort_keys=False)
    new = parse_pipeline(new_text, file="pushed")

    sent: list[str] = []
    pushed_at = 0.0

    async def stream(rate: float, seconds: float) -> None:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            rid = f"live-{len(sent)}"
            sent.append(rid)
            customer = f"C{len(sent) % 5000:05d}"
            await runtime.send([{"request_id": rid, "pipeline": PIPELINE, "keys": {"customer_id": customer}}])
            await asyncio.sleep(max(0.0, started + len(sent) / rate - time.monotonic()))

    streaming = asyncio.ensure_future(stream(rate=20, seconds=6))
    await asyncio.sleep(3)  # steady traffic on the old version first
    pushed_at = time.time() * 1000
    await _push(runtime, new_text, new.version)
    await streaming
    profiles = await runtime.wait_for_profiles(sent, timeout_s=60)

    assert runtime.profiles.duplicates(sent) == {}
    values = [profiles[rid].value for rid in sent]
    assert [p["status"] for p in values if p["status"] != "complete"] == []
    for profile in values:
        if profile["config_version"] == old.version:
            assert "customer_since" not in profile["data"]
        else:
            assert profile["config_version"] == new.version
            assert {"customer_since", "loyalty_points"} <= set(profile["data"])
            assert profile["lineage"]["customer_since"]["config_version"] == new.version
    planned = sorted(values, key=lambda p: _epoch_ms(p["timing"]["received_at"]))
    switch = next(i for i, p in enumerate(planned) if p["config_version"] == new.version)
    assert switch > 0, "the stream must start on the old version"
    assert all(p["config_version"] == new.version for p in planned[switch:]), (
        "a request went back to the old version"
    )
    switch_ms = _epoch_ms(planned[switch]["timing"]["received_at"]) - pushed_at
    print(
        f"\nlive config: {len(sent)} requests, {switch} on the old version, {len(sent) - switch} on the new; "
        f"push -> first request planned with the new version: {switch_ms:.0f} ms"
    )
    assert switch_ms < 1000


async def test_invalid_pushed_version_is_rejected_and_traffic_is_unaffected(runtime: Runtime) -> None:
    runtime.write_pipeline(defaults={"timeout_ms": 2000})
    await runtime.start(workers=1)
    path = runtime.settings.configs / "customer360.yaml"
    old = parse_pipeline(path.read_text(), file=str(path))
    broken = path.read_text().replace("source: warehouse", "source: warehous")
    await _push(runtime, broken, "0000000000broken")
    ids = [f"after-invalid-{i}" for i in range(20)]
    await runtime.send(
        [{"request_id": rid, "pipeline": PIPELINE, "keys": {"customer_id": "C00042"}} for rid in ids]
    )
    profiles = await runtime.wait_for_profiles(ids, timeout_s=60)
    assert {profiles[rid].value["config_version"] for rid in ids} == {old.version}
    assert {profiles[rid].value["status"] for rid in ids} == {"complete"}
    logs = runtime.logs()
    assert "config version rejected, previous version keeps serving" in logs
    assert "node 'credit': source: unknown source 'warehous'" in logs
    assert "cannot activate customer360@0000000000broken" in logs
