"""The dead-letter queue as the console shows it: recent records, counts per code per minute, previews.

A preview never shows a secret: the original bytes are decoded leniently,
control characters are shown as ``\\xNN``, the value of every key a known
pipeline marks ``sensitive`` is masked, and the text is cut short.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from streams.client import decode_dead_letter
from streams.console.profiles import epoch_ms
from streams.events import DeadLetter
from streams.kafka.topicreader import Record, TopicReader
from streams.settings import Settings

log = logging.getLogger(__name__)

PREVIEW_CHARS = 240
MASK = "•••"
MINUTES_KEPT = 60


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadLetterEntry:
    """One dead letter and where it was read on the DLQ topic."""

    letter: DeadLetter
    partition: int
    offset: int
    failed_ms: float

    @property
    def ref(self) -> str:
        """How the console's URLs name it: ``<partition>-<offset>``."""
        return f"{self.partition}-{self.offset}"


def original_bytes(letter: DeadLetter) -> tuple[bytes | None, bytes]:
    """The refused record's key and value, as received."""
    key = None if letter.key is None else base64.b64decode(letter.key)
    return key, base64.b64decode(letter.value)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" for c in text)


def _masked(document: Any, sensitive: frozenset[str]) -> Any:
    if isinstance(document, dict) and isinstance(document.get("keys"), dict):
        keys = {k: (MASK if k in sensitive else v) for k, v in document["keys"].items()}
        return {**document, "keys": keys}
    return document


def safe_preview(letter: DeadLetter, sensitive: frozenset[str]) -> str:
    """The original value as short printable text, sensitive key values masked."""
    try:
        raw = base64.b64decode(letter.value)
    except (binascii.Error, ValueError):
        return "(the stored value is not valid base64)"
    if not raw:
        return "(empty)"
    text = raw.decode("utf-8", "backslashreplace")
    try:
        text = json.dumps(_masked(json.loads(raw), sensitive), ensure_ascii=False)
    except ValueError:
        if sensitive:  # unparsable: key values cannot be told apart, so show none of it
            text = f"({len(raw)} bytes that are not JSON; not shown: they may hold sensitive keys)"
    preview = _printable(text)
    if len(preview) > PREVIEW_CHARS:
        preview = preview[:PREVIEW_CHARS] + "…"
    if letter.truncated:
        preview += f"  (first 64 KiB of {letter.value_size} bytes kept)"
    return preview


class DeadLetterBook:
    """The newest dead letters, and counts per code: in total and per minute for the last hour."""

    def __init__(self, *, max_letters: int) -> None:
        self._entries: deque[DeadLetterEntry] = deque(maxlen=max_letters)
        self.totals: Counter[str] = Counter()
        self._minutes: dict[int, Counter[str]] = {}
        self.rejected = 0

    def add(self, entry: DeadLetterEntry) -> None:
        self._entries.append(entry)
        code = entry.letter.code
        self.totals[code] += 1
        minute = int(entry.failed_ms // 60_000)
        self._minutes.setdefault(minute, Counter())[code] += 1
        while len(self._minutes) > MINUTES_KEPT * 2:
            del self._minutes[min(self._minutes)]

    def __len__(self) -> int:
        return len(self._entries)

    def newest(self, *, code: str | None = None) -> Iterator[DeadLetterEntry]:
        return (e for e in reversed(self._entries) if code is None or e.letter.code == code)

    def get(self, partition: int, offset: int) -> DeadLetterEntry | None:
        return next((e for e in self._entries if e.partition == partition and e.offset == offset), None)

    def per_minute(self, *, now_ms: float, minutes: int = 30) -> list[tuple[int, Counter[str]]]:
        """``(minute, counts per code)`` for each of the last ``minutes`` minutes, oldest first."""
        last = int(now_ms // 60_000)
        return [(m, self._minutes.get(m, Counter())) for m in range(last - minutes + 1, last + 1)]


class DeadLetterReader(TopicReader):
    """Reads the DLQ topic into a :class:`DeadLetterBook`."""

    def __init__(self, *, settings: Settings, since_ms: int, book: DeadLetterBook) -> None:
        super().__init__(settings=settings, topic=settings.dlq_topic, partitions=None, since_ms=since_ms)
        self._book = book

    def _add(self, record: Record) -> None:
        try:
            letter = decode_dead_letter(record.value or b"")
        except ValidationError:
            self._book.rejected += 1
            log.debug(
                "%s[%d]@%d is not a dead letter; skipped", record.topic, record.partition, record.offset
            )
            return
        self._book.add(
            DeadLetterEntry(
                letter=letter,
                partition=record.partition,
                offset=record.offset,
                failed_ms=epoch_ms(letter.failed_at),
            )
        )
