"""The console reads profiles and dead letters as a reader of this contract version: a later version's
added properties are ignored (docs/spec.md#versioning), what is not an event is counted and skipped.

The readers' ``_add`` is fed records built here: no broker is needed for what one record becomes.
"""

from __future__ import annotations

import json
from typing import Any

from aiokafka.structs import ConsumerRecord

from streams.console.deadletters import DeadLetterBook, DeadLetterReader
from streams.console.profiles import ProfileBook, ProfileReader
from streams.settings import Settings

from .conftest import entry


def _record(value: bytes, *, topic: str = "out", offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=[],
    )


def _later_version(document: dict[str, Any]) -> bytes:
    return json.dumps({**document, "schema_version": 2, "added_later": {"any": "thing"}}).encode()


def test_a_profile_of_a_later_contract_version_is_kept_and_garbage_counted() -> None:
    book = ProfileBook(max_profiles=10)
    reader = ProfileReader(settings=Settings(), topic="out", since_ms=0, book=book)
    profile = entry("later-1").profile.model_dump(mode="json")

    reader._add(_record(_later_version(profile)))
    reader._add(_record(b"not a profile", offset=1))

    kept = book.get("later-1")
    assert kept is not None
    assert kept.profile.status == "complete"
    assert book.rejected == 1


def test_a_dead_letter_of_a_later_contract_version_is_kept_and_garbage_counted() -> None:
    book = DeadLetterBook(max_letters=10)
    reader = DeadLetterReader(settings=Settings(), since_ms=0, book=book)
    letter = {
        "reason": "missing key 'customer_id'",
        "code": "missing_key",
        "source": {"topic": "graphfetch.requests", "partition": 3, "offset": 7},
        "key": None,
        "value": "e30=",
        "value_size": 2,
        "truncated": False,
        "failed_at": "2026-12-05T20:00:00.000Z",
    }

    reader._add(_record(_later_version(letter), topic="graphfetch.dlq"))
    reader._add(_record(b"{}", topic="graphfetch.dlq", offset=1))

    assert dict(book.totals) == {"missing_key": 1}
    assert book.rejected == 1
