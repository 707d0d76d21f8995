"""The public client's pure parts, without a broker: requests on the wire, reading answers, its errors."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import ValidationError

import streams.client
from planner.profile import iso_ms
from streams.client import (
    ClientError,
    ClientState,
    GraphfetchClient,
    RequestRefused,
    UnknownPipeline,
    decode_dlq_record,
    decode_profile,
    encode_request,
    expand_counter,
    request_event,
)
from streams.events import DeadLetter, RecordCoordinates
from streams.settings import Settings


def test_the_public_names_are_exported_once_each() -> None:
    exported = streams.client.__all__
    assert len(set(exported)) == len(exported)
    assert all(hasattr(streams.client, name) for name in exported)
    assert {"GraphfetchClient", "ClientError", "RequestRefused", "UnknownPipeline", "ProfileTimeout"} <= set(
        exported
    )


def test_a_request_on_the_wire_leaves_unset_options_out() -> None:
    event = request_event("customer360", {"customer_id": "C1"}, request_id="r-1")
    assert json.loads(encode_request(event)) == {
        "schema_version": 1,
        "request_id": "r-1",
        "pipeline": "customer360",
        "keys": {"customer_id": "C1"},
    }
    full = request_event("p", {"k": "v"}, request_id="r-2", fields=["a"], deadline_ms=800)
    assert json.loads(encode_request(full))["fields"] == ["a"]
    assert request_event("p", {"k": "v"}, request_id="r-3", fields=[]).fields is None  # empty: all fields


def test_key_values_are_numbered() -> None:
    assert expand_counter("C{i:05d}", 42) == "C00042"
    assert expand_counter("r{i}", 7) == "r7"
    assert expand_counter("plain", 7) == "plain"


def _letter(value: bytes, code: str = "missing_key", key: bytes | None = None) -> bytes:
    letter = DeadLetter(
        key=None if key is None else base64.b64encode(key).decode(),
        reason="why",
        code=code,  # type: ignore[arg-type]
        source=RecordCoordinates(topic="graphfetch.requests", partition=0, offset=3),
        value=base64.b64encode(value).decode(),
        value_size=len(value),
        failed_at=iso_ms(0),
    )
    return letter.model_dump_json().encode()


def test_a_dead_letter_answers_the_request_it_carries() -> None:
    request_id, letter = decode_dlq_record(_letter(b'{"request_id": "r-9", "pipeline": "p"}'))
    assert request_id == "r-9"
    assert isinstance(letter, DeadLetter)
    assert letter.code == "missing_key"


@pytest.mark.parametrize("value", [b"\xff not json", b'["a list"]', b'{"request_id": 42}', b"[" * 100_000])
def test_a_dead_letter_of_a_request_without_a_readable_id_answers_none(value: bytes) -> None:
    assert decode_dlq_record(_letter(value, code="invalid_json"))[0] is None


def test_a_dead_letter_whose_value_cannot_say_answers_the_request_its_key_names() -> None:
    """A request cut at 64 KiB (too_large) is no longer JSON; the client keys requests by their id."""
    cut = b'{"request_id": "r-big", "keys": {"k": "' + b"x" * 65_536
    assert decode_dlq_record(_letter(cut[:65_536], code="too_large", key=b"r-big"))[0] == "r-big"
    assert decode_dlq_record(_letter(b"\xff", code="invalid_utf8", key=b"\xff"))[0] is None


def test_a_failed_profile_on_the_dlq_answers_its_request() -> None:
    profile = {
        "request_id": "r-5",
        "pipeline": "p",
        "config_version": "v",
        "status": "failed",
        "keys": {},
        "data": {},
        "errors": {"pipeline": {"kind": "unknown_version", "message": "gone"}},
        "lineage": {},
        "timing": {"received_at": "t", "completed_at": "t", "latency_ms": 1},
        "trace_id": None,
        "added_by_a_later_version": True,
    }
    request_id, answer = decode_dlq_record(json.dumps(profile).encode())
    assert request_id == "r-5"
    assert answer == decode_profile(json.dumps(profile).encode())


def test_what_is_not_an_event_raises_a_value_error() -> None:
    """The followers skip (and log) records that raise ValueError: both kinds of failure are one."""
    for value in (b"nope", b'{"status": 1}', b"{}"):
        with pytest.raises((json.JSONDecodeError, ValidationError)):
            decode_dlq_record(value)
    with pytest.raises(ValidationError):
        decode_profile(b'{"request_id": "r"}')
    assert issubclass(json.JSONDecodeError, ValueError)
    assert issubclass(ValidationError, ValueError)


async def test_a_client_that_knows_the_pipelines_refuses_another_before_sending() -> None:
    client = GraphfetchClient(settings=Settings(bootstrap="127.0.0.1:1"), output_topics={"a": "a.out"})
    assert client.output_topic("a") == "a.out"
    with pytest.raises(UnknownPipeline, match=r"unknown pipeline 'b' \(known: a\)") as refused:
        await client.request("b", keys={})
    assert isinstance(refused.value, RequestRefused)
    assert (refused.value.code, refused.value.request_id, refused.value.dead_letter) == (
        "unknown_pipeline",
        None,
        None,
    )


async def test_an_unopened_or_closed_client_says_what_to_do() -> None:
    client = GraphfetchClient(settings=Settings(bootstrap="127.0.0.1:1"))
    with pytest.raises(ClientError, match="not open"):
        await client.send("p", keys={})
    with pytest.raises(ClientError, match="not open"):
        await client.request("p", keys={})
    await client.close()
    await client.close()  # twice is fine
    assert client.state is ClientState.CLOSED
    with pytest.raises(ClientError, match="closed; create a new one"):
        await client.open()
