"""A dead letter's preview never shows a sensitive key's value, a control character or a huge value."""

from __future__ import annotations

import base64
import json

from streams.console.deadletters import MASK, PREVIEW_CHARS, safe_preview
from streams.events import DeadLetter, RecordCoordinates


def letter(raw: bytes, *, truncated: bool = False) -> DeadLetter:
    return DeadLetter(
        reason="r",
        code="invalid_key",
        source=RecordCoordinates(topic="t", partition=0, offset=1),
        value=base64.b64encode(raw).decode(),
        value_size=len(raw),
        truncated=truncated,
        failed_at="2026-12-05T20:00:00.000Z",
    )


def test_sensitive_key_values_are_masked_and_others_kept() -> None:
    raw = json.dumps({"pipeline": "p", "keys": {"ssn": "123-45-6789", "customer_id": "C1"}}).encode()
    shown = safe_preview(letter(raw), frozenset({"ssn"}))
    assert "123-45-6789" not in shown
    assert MASK in shown
    assert "C1" in shown


def test_bytes_that_are_not_json_are_not_shown_when_some_key_is_sensitive() -> None:
    shown = safe_preview(letter(b'{"keys": {"ssn": "123-45-6789"'), frozenset({"ssn"}))
    assert "6789" not in shown


def test_control_characters_and_invalid_utf8_are_escaped() -> None:
    shown = safe_preview(letter(b"\x00\x1b[31m\xff tail"), frozenset())
    assert "\x00" not in shown
    assert "\x1b" not in shown
    assert "\\x00" in shown
    assert "\\xff" in shown


def test_a_long_value_is_cut_and_a_truncated_record_says_so() -> None:
    shown = safe_preview(letter(b"a" * 5000, truncated=True), frozenset())
    assert shown.startswith("a" * PREVIEW_CHARS + "…")
    assert "first 64 KiB of 5000 bytes kept" in shown
