"""Hostile requests on a real broker: each gets a DLQ record with a precise reason; the worker keeps serving.

Key values crafted for path traversal, URL or header injection and SQL injection are refused by the
pipeline's key pattern (customer360 declares one); without a pattern they are percent-encoded in paths
and bound in SQL (tested with the connectors).
"""

from __future__ import annotations

import base64
import json

import pytest

from streams.kafka.factory import make_producer
from tests.support.budgets import UNHURRIED

from .conftest import PIPELINE, Runtime

pytestmark = pytest.mark.integration


def _request(**keys: str) -> bytes:
    return json.dumps({"pipeline": PIPELINE, "keys": keys}).encode()


HOSTILE: dict[bytes, tuple[bytes, str, str]] = {
    b"not-json": (b"<xml/>", "invalid_json", "not valid JSON"),
    b"bad-utf8": (b'{"pipeline": "\xff\xfe"}', "invalid_utf8", "not valid UTF-8"),
    b"ten-mb": (b"{" + b" " * 10_000_000 + b"}", "too_large", "more than the limit of 1000000"),
    b"deep": (b"[" * 100_000 + b"]" * 100_000, "invalid_json", "recursion limit"),
    b"wrong-types": (
        b'{"pipeline": ["x"], "keys": "C00001"}',
        "invalid_request",
        "pipeline: Input should be a valid string",
    ),
    b"unknown-pipeline": (
        json.dumps({"pipeline": "nope", "keys": {}}).encode(),
        "unknown_pipeline",
        "'nope'",
    ),
    b"unknown-field": (
        json.dumps({"pipeline": PIPELINE, "keys": {"customer_id": "C00001"}, "fields": ["ssn"]}).encode(),
        "unknown_field",
        "'ssn'",
    ),
    b"missing-key": (_request(account="A1"), "missing_key", "'customer_id'"),
    b"nul-bytes": (b'{"pipeline": "customer360\x00", "keys": {}}', "invalid_request", "NUL character"),
    b"traversal": (_request(customer_id="../../admin"), "invalid_key", "does not match pattern"),
    b"url-injection": (_request(customer_id="C1?x=1#frag"), "invalid_key", "does not match pattern"),
    b"host-injection": (_request(customer_id="@evil.example/"), "invalid_key", "does not match pattern"),
    b"header-injection": (_request(customer_id="C1\r\nX-Admin: 1"), "invalid_key", "control character"),
    b"sql-injection": (_request(customer_id="x' OR '1'='1"), "invalid_key", "does not match pattern"),
}


async def test_every_hostile_request_gets_a_precise_dlq_reason_and_serving_goes_on(runtime: Runtime) -> None:
    runtime.write_pipeline(defaults=UNHURRIED)  # the good request's profile complete, not partial
    await runtime.start(workers=1)
    producer = make_producer(runtime.settings, max_request_size=12_000_000)
    await producer.start()
    try:
        acks = [
            await producer.send(runtime.settings.requests_topic, value, key=key)
            for key, (value, _, _) in HOSTILE.items()
        ]
        for ack in acks:
            await ack
    finally:
        await producer.stop()
    await runtime.send(
        [{"request_id": "good-after-hostile", "pipeline": PIPELINE, "keys": {"customer_id": "C00002"}}]
    )

    profile = (await runtime.wait_for_profiles(["good-after-hostile"], timeout_s=60))[
        "good-after-hostile"
    ].value
    assert profile["status"] == "complete"
    dlq = runtime.dead_letters
    assert await dlq.wait_until(lambda: len(dlq.received) >= len(HOSTILE), timeout_s=30), runtime.logs()
    letters = {base64.b64decode(r.value["key"]): r.value for r in dlq.received}
    assert set(letters) == set(HOSTILE)
    for key, (value, code, reason) in HOSTILE.items():
        letter = letters[key]
        assert (letter["code"], reason in letter["reason"]) == (code, True), letter["reason"]
        assert letter["value_size"] == len(value)
        assert letter["truncated"] is (len(value) > 65_536)
        assert base64.b64decode(letter["value"]) == value[:65_536]
    assert "demo" not in json.dumps(list(letters.values()))  # the orders token never leaks into a DLQ record
    assert all(w.alive for w in runtime.workers)
