"""``GraphfetchClient`` against worker processes on the session's broker, and the CLI commands it runs."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from planner import Profile
from streams.client import (
    ClientError,
    GraphfetchClient,
    ProfileTimeout,
    RequestRefused,
    UnknownPipeline,
)
from streams.settings import Settings
from tests.support.budgets import UNHURRIED

if TYPE_CHECKING:
    from tests.integration.clients.conftest import Runtime

pytestmark = pytest.mark.integration

PIPELINE = "customer360"
GRAPHFETCH = Path(sys.executable).with_name("graphfetch")


def _client(runtime: Runtime, *, known: bool = True) -> GraphfetchClient:
    topics = {PIPELINE: runtime.output_topic} if known else None
    return GraphfetchClient(settings=runtime.settings, output_topics=topics)


async def test_the_client_gets_typed_profiles_and_typed_refusals(runtime: Runtime) -> None:
    runtime.write_pipeline(defaults=UNHURRIED)  # complete profiles, however loaded the machine
    await runtime.start(workers=1)
    async with _client(runtime) as client:
        profile = await client.request(
            PIPELINE, keys={"customer_id": "C00042"}, fields=["name", "orders"], deadline_ms=10_000
        )
        assert isinstance(profile, Profile)
        assert (profile.status, profile.pipeline, profile.schema_version) == ("complete", PIPELINE, 1)
        assert set(profile.data) == {"name", "orders"}

        # Concurrent requests on one client: each gets its own profile.
        many = await asyncio.gather(
            *(client.request(PIPELINE, keys={"customer_id": f"C0000{i}"}, timeout_s=60) for i in range(5))
        )
        assert [p.keys["customer_id"] for p in many] == [f"C0000{i}" for i in range(5)]
        assert len({p.request_id for p in many}) == 5

        # A request a worker dead-letters raises with the worker's reason and code.
        with pytest.raises(RequestRefused) as refused:
            await client.request(PIPELINE, keys={"account": "A1"}, timeout_s=60)
        assert refused.value.code == "missing_key"
        assert refused.value.dead_letter is not None
        assert "customer_id" in refused.value.reason

        # A pipeline the client knows nothing of is refused before anything is sent.
        with pytest.raises(UnknownPipeline) as local:
            await client.request("customer361", keys={"customer_id": "C00042"})
        assert local.value.dead_letter is None
        assert "known: customer360" in str(local.value)

    # Without the pipelines, the worker's refusal is the same error, with its dead letter.
    async with _client(runtime, known=False) as blind:
        blind_topics = GraphfetchClient(settings=runtime.settings)
        assert blind_topics.output_topic("anything") == "profiles.enriched"
        with pytest.raises(UnknownPipeline) as remote:
            await blind.request("customer361", keys={"customer_id": "C00042"}, timeout_s=60)
        assert remote.value.dead_letter is not None
        assert remote.value.dead_letter.code == "unknown_pipeline"


async def test_the_profile_stream_yields_each_profile_of_the_pipeline(runtime: Runtime) -> None:
    await runtime.start(workers=1)
    async with _client(runtime) as client:
        received: list[Profile] = []

        async def consume() -> None:
            async for profile in client.profiles(PIPELINE, from_beginning=True):
                if profile.request_id.startswith("stream-"):
                    received.append(profile)
                    if len(received) == 3:
                        return

        consumer = asyncio.create_task(consume())
        ids = await client.send_many(
            PIPELINE, keys={"customer_id": "C{i:05d}"}, count=3, id_prefix="stream", deadline_ms=10_000
        )
        await asyncio.wait_for(consumer, timeout=60)
    assert sorted(p.request_id for p in received) == sorted(ids) == ["stream-0", "stream-1", "stream-2"]
    assert sorted(p.keys["customer_id"] for p in received) == ["C00000", "C00001", "C00002"]


async def test_no_profile_within_the_timeout_raises_profile_timeout(
    kafka_bootstrap: str, unique_name: str
) -> None:
    """No worker serves this deployment: the request is sent, and nothing answers it."""
    settings = Settings(bootstrap=kafka_bootstrap).isolated(unique_name)
    client = GraphfetchClient(settings=settings, output_topics={PIPELINE: f"{unique_name}.profiles"})
    async with client:
        with pytest.raises(ProfileTimeout) as timeout:
            await client.request(PIPELINE, keys={"customer_id": "C00042"}, request_id="lonely", timeout_s=3)
    assert timeout.value.retriable
    assert timeout.value.request_id == "lonely"
    assert isinstance(timeout.value, TimeoutError)
    with pytest.raises(ClientError, match="closed"):
        await client.open()


def _cli(runtime: Runtime, *args: str, timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **runtime.settings.deployment_env(), "OTEL_SDK_DISABLED": "true"}
    return subprocess.run(
        [str(GRAPHFETCH), *args], capture_output=True, text=True, env=env, timeout=timeout_s, check=False
    )


async def test_the_cli_request_produce_and_consume_run_through_the_client(runtime: Runtime) -> None:
    runtime.write_pipeline(defaults=UNHURRIED)  # complete profiles, however loaded the machine
    await runtime.start(workers=1)
    request = await asyncio.to_thread(
        _cli, runtime, "request", PIPELINE, "--key", "customer_id=C00042", "--deadline-ms", "10000"
    )
    assert request.returncode == 0, request.stderr
    profile = Profile.model_validate_json(request.stdout)
    assert (profile.status, profile.keys) == ("complete", {"customer_id": "C00042"})

    refused = await asyncio.to_thread(_cli, runtime, "request", PIPELINE, "--key", "account=A1")
    assert refused.returncode == 4, refused.stderr
    assert "missing_key" in refused.stderr

    produced = await asyncio.to_thread(
        _cli, runtime, "produce", PIPELINE, "--key", "customer_id=C{i:05d}", "--count", "3"
    )
    assert produced.returncode == 0, produced.stderr
    ids = produced.stdout.split(": ", 1)[1].strip().split(" .. ")
    await runtime.wait_for_profiles([ids[0], ids[-1]], timeout_s=60)

    consumed = await asyncio.to_thread(_cli, runtime, "consume", runtime.output_topic)
    assert consumed.returncode == 0, consumed.stderr
    seen = {json.loads(line)["request_id"] for line in consumed.stdout.splitlines()}
    assert {ids[0], ids[-1], profile.request_id} <= seen


async def test_a_worker_serves_a_later_versions_request_and_refuses_this_versions_unknown_property(
    runtime: Runtime,
) -> None:
    """docs/spec.md#versioning on a real worker: a producer of contract version 2 added a property."""
    runtime.write_pipeline(defaults=UNHURRIED)  # the v2 request names no deadline: complete, not partial
    await runtime.start(workers=1)
    keys = {"customer_id": "C00042"}
    later = {"schema_version": 2, "request_id": "v2", "pipeline": PIPELINE, "keys": keys, "priority": "high"}
    typo = {"request_id": "v1-typo", "pipeline": PIPELINE, "keys": keys, "feilds": ["name"]}
    await runtime.send([later, typo])

    profile = (await runtime.wait_for_profiles(["v2"], timeout_s=60))["v2"].value
    assert (profile["status"], profile["schema_version"]) == ("complete", 1)

    dlq = runtime.dead_letters

    def refused() -> list[dict[str, object]]:
        return [r.value for r in dlq.received if b"v1-typo" in base64.b64decode(r.value["value"])]

    assert await dlq.wait_until(lambda: bool(refused()), timeout_s=30), runtime.logs()
    assert refused()[0]["code"] == "invalid_request"
    assert "feilds" in str(refused()[0]["reason"])
