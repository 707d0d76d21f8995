"""The console keeps the newest profiles only, finds them by request id or key, and wakes waiters."""

from __future__ import annotations

from streams.console.profiles import ProfileBook

from .conftest import entry


def test_only_the_newest_profiles_are_kept_and_found() -> None:
    book = ProfileBook(max_profiles=3)
    for i in range(5):
        book.add(entry(f"r{i}", keys={"customer_id": f"C{i:05d}"}))
    assert len(book) == 3
    assert book.get("r0") is None
    assert book.get("r4") is not None
    assert [e.profile.request_id for e in book.search("", limit=10)] == ["r4", "r3", "r2"]


def test_search_matches_request_ids_and_key_values_case_blind() -> None:
    book = ProfileBook(max_profiles=10)
    book.add(entry("abc-1", keys={"customer_id": "C00042"}))
    book.add(entry("xyz-2", keys={"customer_id": "C00007"}))
    assert [e.profile.request_id for e in book.search("c00042", limit=10)] == ["abc-1"]
    assert [e.profile.request_id for e in book.search("XYZ", limit=10)] == ["xyz-2"]


def test_search_narrows_to_a_status() -> None:
    book = ProfileBook(max_profiles=10)
    book.add(entry("ok-1"))
    book.add(entry("bad-1", status="failed"))
    assert [e.profile.request_id for e in book.search("", limit=10, status="failed")] == ["bad-1"]


async def test_an_arrival_sets_the_event_taken_before_it() -> None:
    book = ProfileBook(max_profiles=10)
    changed = book.changed()
    assert not changed.is_set()
    book.add(entry("r1"))
    assert changed.is_set()
    assert not book.changed().is_set()
