"""One request through real worker processes on a real broker: profile, DLQ, deadline, trace context."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from devkit.demo import CREDIT_THRESHOLD, account_id_for, credit_score_for
from tests.support.budgets import UNHURRIED
from tests.support.librdkafka import produce_with_librdkafka

if TYPE_CHECKING:  # fixture types; pytest loads conftest.py itself
    from tests.integration.runtime.conftest import Runtime, Upstreams

pytestmark = pytest.mark.integration

HEX32 = re.compile(r"[0-9a-f]{32}")
DEADLINE_MS = 10_000.0
"""The deadline test's: time enough for every other node's Kafka hops on a loaded machine."""
SLOW_MS = 60_000.0
"""The slow upstream of the deadline test: six times its deadline."""


def _epoch_ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def expected_customer(base_url: str, customer_id: str) -> dict[str, Any]:
    """What the demo upstreams serve for one customer, asked directly over HTTP."""
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        customer = http.get(f"/crm/customers/{customer_id}").raise_for_status().json()
        account = customer["account_id"]
        orders = (
            http.get("/orders/orders", params={"account": account}, headers={"Authorization": "Bearer demo"})
            .raise_for_status()
            .json()
        )
        credit = credit_score_for(account_id_for(customer_id))
        risk = None
        if credit < CREDIT_THRESHOLD:
            scores = http.get(
                f"/risk/scores/{account}", params={"orders": orders["count"]}
            ).raise_for_status()
            risk = scores.json()["level"]
    return {"name": customer["name"], "orders": orders["items"], "credit_score": credit, "risk": risk}


async def test_request_from_plain_kafka_client_gets_profile(runtime: Runtime, upstreams: Upstreams) -> None:
    runtime.tracing = True  # a plain client sends no trace context: the worker starts the trace
    runtime.write_pipeline(defaults=UNHURRIED)  # a complete profile, however loaded the machine
    await runtime.start(workers=1)
    request = {
        "request_id": "r-1",
        "pipeline": "customer360",
        "keys": {"customer_id": "C00042"},
        "fields": ["name", "orders", "credit_score", "risk"],
        "deadline_ms": 10_000,  # a client's own deadline; on a loaded machine a first request is slow
    }

    await asyncio.to_thread(
        produce_with_librdkafka,
        runtime.bootstrap,
        runtime.settings.requests_topic,
        key=b"C00042",
        value=json.dumps(request).encode(),
    )
    received = (await runtime.wait_for_profiles(["r-1"], timeout_s=30))["r-1"]

    profile = received.value
    assert received.key == b"C00042"
    assert profile["status"] == "complete", profile["errors"]
    assert profile["pipeline"] == "customer360"
    assert profile["keys"] == {"customer_id": "C00042"}
    assert profile["data"] == expected_customer(upstreams.url, "C00042")
    assert profile["errors"] == {}
    assert re.fullmatch(r"[0-9a-f]{16}", profile["config_version"])
    assert set(profile["lineage"]) == set(profile["data"])
    for name, lineage in profile["lineage"].items():
        assert lineage["config_version"] == profile["config_version"], name
    assert profile["lineage"]["name"]["source"] == "crm"
    assert profile["lineage"]["orders"]["connector"] == "http"
    assert profile["lineage"]["credit_score"]["connector"] == "sql"
    assert profile["lineage"]["risk"]["skipped"] is (profile["data"]["risk"] is None)
    timing = profile["timing"]
    assert timing["latency_ms"] > 0
    # The latency is the time between the two timestamps (each truncated to the millisecond).
    between = _epoch_ms(timing["completed_at"]) - _epoch_ms(timing["received_at"])
    assert abs(timing["latency_ms"] - between) <= 1.5, timing
    assert HEX32.fullmatch(profile["trace_id"] or "")
    print(f"\nprofile of the plain client's request in {timing['latency_ms']:.0f} ms")


async def test_trace_context_of_the_request_reaches_the_profile(runtime: Runtime) -> None:
    await runtime.start(workers=1)  # tracing SDK disabled: the context is still passed on
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    request = {"request_id": "traced-1", "pipeline": "customer360", "keys": {"customer_id": "C00007"}}

    await asyncio.to_thread(
        produce_with_librdkafka,
        runtime.bootstrap,
        runtime.settings.requests_topic,
        key=b"traced-1",
        value=json.dumps(request).encode(),
        headers=[("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01".encode())],
    )
    profile = (await runtime.wait_for_profiles(["traced-1"], timeout_s=30))["traced-1"].value

    assert profile["trace_id"] == trace_id


async def test_bad_request_goes_to_dlq_and_next_is_served(runtime: Runtime) -> None:
    runtime.write_pipeline(defaults=UNHURRIED)  # the good request's profile complete, not partial
    await runtime.start(workers=1)
    bad = {
        b"bad-json": (b'{"pipeline": "customer360", "keys": ', "invalid_json", "not valid JSON"),
        b"bad-pipeline": (
            json.dumps({"pipeline": "no_such_pipeline", "keys": {"customer_id": "C00001"}}).encode(),
            "unknown_pipeline",
            "no_such_pipeline",
        ),
        b"bad-key": (
            json.dumps({"pipeline": "customer360", "keys": {"account_id": "A1"}}).encode(),
            "missing_key",
            "customer_id",
        ),
        b"bad-field": (
            json.dumps(
                {
                    "pipeline": "customer360",
                    "keys": {"customer_id": "C00001"},
                    "fields": ["name", "shoe_size"],
                }
            ).encode(),
            "unknown_field",
            "shoe_size",
        ),
    }

    sent = await runtime.send_raw([(key, value) for key, (value, _, _) in bad.items()])
    await runtime.send(
        [{"request_id": "good-after-bad", "pipeline": "customer360", "keys": {"customer_id": "C00003"}}]
    )

    profile = (await runtime.wait_for_profiles(["good-after-bad"], timeout_s=30))["good-after-bad"].value
    assert profile["status"] == "complete"
    dlq = runtime.dead_letters
    assert await dlq.wait_until(lambda: len(dlq.received) >= len(bad), timeout_s=10), runtime.logs()
    letters = {base64.b64decode(r.value["key"]): r.value for r in dlq.received}
    assert set(letters) == set(bad)
    for (key, (value, code, named)), meta in zip(bad.items(), sent, strict=True):
        letter = letters[key]
        assert letter["code"] == code, letter
        assert named in letter["reason"], letter
        assert base64.b64decode(letter["value"]) == value
        assert letter["value_size"] == len(value)
        assert letter["source"] == {"topic": meta.topic, "partition": meta.partition, "offset": meta.offset}
    assert all(w.alive for w in runtime.workers)


async def test_deadline_gives_partial_profile_at_the_deadline(runtime: Runtime, upstreams: Upstreams) -> None:
    # The tickets fetch takes longer than the deadline and its timeout is longer still: only the
    # deadline can cut it short, and a profile that waited for it would come SLOW_MS later. The
    # deadline leaves the other nodes seconds for their hops, so they are all in the profile.
    runtime.write_pipeline(defaults=UNHURRIED, nodes={"tickets": {"timeout_ms": 2 * SLOW_MS}})
    await runtime.start(workers=1)
    upstreams.set_faults("support", latency_ms=SLOW_MS)
    request = {
        "request_id": "slow-1",
        "pipeline": "customer360",
        "keys": {"customer_id": "C00042"},
        "deadline_ms": DEADLINE_MS,
    }

    sent_at = time.monotonic()
    await runtime.send([request])
    received = (await runtime.wait_for_profiles(["slow-1"], timeout_s=30))["slow-1"]

    profile = received.value
    assert profile["status"] == "partial"
    assert set(profile["errors"]) == {"tickets"}, profile["errors"]
    assert profile["errors"]["tickets"]["kind"] == "deadline"
    expected = expected_customer(upstreams.url, "C00042")  # support is not asked for these
    assert {k: profile["data"][k] for k in expected} == expected
    assert profile["data"]["loyalty_tier"]
    assert "open_tickets" not in profile["data"]
    print(f"\ndeadline {DEADLINE_MS:.0f} ms: partial profile at {profile['timing']['latency_ms']:.0f} ms")
    assert profile["timing"]["latency_ms"] >= DEADLINE_MS - 50, (
        "the profile came before the deadline"
    )  # clocks round
    assert profile["timing"]["latency_ms"] < SLOW_MS, "the profile waited for the slow fetch"
    assert received.arrived - sent_at < SLOW_MS / 1000, "the profile was published after the slow fetch"
