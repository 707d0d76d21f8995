"""Changing a running cluster's pipeline by pushing to graphfetch.configs: nothing lost or failed,
every profile on one version, no planner going back once it switched; an invalid version changes
nothing. How soon a push takes effect is printed (``pytest -s``), not asserted."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime

import pytest
import yaml

from planner import parse_pipeline
from streams.liveconfig.configtopic import ActiveRecord, VersionRecord, now_iso, publish_records
from tests.support.budgets import UNHURRIED

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
    runtime.write_pipeline(defaults=UNHURRIED)  # every profile complete, however loaded the machine
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
    partition_of: dict[str, tuple[int, int]] = {}  # request id -> (partition, offset) of its request
    stop_streaming = asyncio.Event()

    async def stream(rate: float) -> None:
        started = time.monotonic()
        while not stop_streaming.is_set():
            rid = f"live-{len(sent)}"
            sent.append(rid)
            customer = f"C{len(sent) % 5000:05d}"
            request = {"request_id": rid, "pipeline": PIPELINE, "keys": {"customer_id": customer}}
            [meta] = await runtime.send_raw([(rid.encode(), json.dumps(request).encode())])
            partition_of[rid] = (meta.partition, meta.offset)
            # Pacing, not synchronisation: this sleep sets the request rate.
            await asyncio.sleep(max(0.0, started + len(sent) / rate - time.monotonic()))

    def answered_with(version: str) -> int:
        return sum(
            1
            for rid in list(sent)
            if (got := runtime.profiles.by_request_id.get(rid)) and got[0].value["config_version"] == version
        )

    streaming = asyncio.ensure_future(stream(rate=20))
    try:
        # Steady traffic on the old version first, then the push, then traffic until the new
        # version has answered requests too: deadlines, not durations, so a slow machine only waits longer.
        assert await runtime.profiles.wait_until(lambda: answered_with(old.version) >= 20, timeout_s=60), (
            f"no steady traffic on the old version:\n{runtime.logs()}"
        )
        pushed_at = time.time() * 1000
        await _push(runtime, new_text, new.version)
        assert await runtime.profiles.wait_until(lambda: answered_with(new.version) >= 20, timeout_s=60), (
            f"the pushed version did not take over within 60 s:\n{runtime.logs()}"
        )
    finally:
        stop_streaming.set()
        await streaming
    profiles = await runtime.wait_for_profiles(sent, timeout_s=60)

    assert runtime.profiles.duplicates(sent) == {}
    values = {rid: profiles[rid].value for rid in sent}
    assert [p["status"] for p in values.values() if p["status"] != "complete"] == []
    for profile in values.values():
        if profile["config_version"] == old.version:
            assert "customer_since" not in profile["data"]
        else:
            assert profile["config_version"] == new.version
            assert {"customer_since", "loyalty_points"} <= set(profile["data"])
            assert profile["lineage"]["customer_since"]["config_version"] == new.version
    # Each partition's requests are planned in offset order by one planner, which switches once and
    # for good. Workers follow the config topic each on its own, so across partitions (two workers)
    # the switch need not fall at one instant.
    by_partition: dict[int, list[str]] = {}
    for rid in sorted(sent, key=partition_of.__getitem__):
        by_partition.setdefault(partition_of[rid][0], []).append(rid)
    for partition, rids in by_partition.items():
        versions = [values[rid]["config_version"] for rid in rids]
        if new.version in versions:
            first_new = versions.index(new.version)
            assert set(versions[first_new:]) == {new.version}, (
                f"partition {partition}: a request went back to the old version"
            )
    switched = [p for p in values.values() if p["config_version"] == new.version]
    switch_ms = min(_epoch_ms(p["timing"]["received_at"]) for p in switched) - pushed_at
    # A figure, not an assertion: how soon a push takes effect depends on the machine's load.
    print(
        f"\nlive config: {len(sent)} requests, {len(sent) - len(switched)} on the old version, "
        f"{len(switched)} on the new; push -> first request planned with the new version: {switch_ms:.0f} ms"
    )


async def test_invalid_pushed_version_is_rejected_and_traffic_is_unaffected(runtime: Runtime) -> None:
    runtime.write_pipeline(defaults=UNHURRIED)  # every profile complete, however loaded the machine
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
