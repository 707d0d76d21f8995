"""The most recent profiles of every pipeline's output topic, bounded, searchable, with live figures.

:class:`ProfileBook` keeps the newest ``max_profiles`` profiles (validated as
:class:`planner.Profile` at the edge; a record that is not one is counted and
skipped), indexed by request id. A search by request id or key value scans
what is kept. :class:`ProfileReader` feeds it from one output topic.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from planner import Profile
from streams.client import decode_profile
from streams.kafka.topicreader import Record, TopicReader
from streams.settings import Settings

log = logging.getLogger(__name__)
_ORDER_SLACK_MS = 5_000
"""Partitions interleave: a profile read later may have completed up to this much earlier."""


def epoch_ms(iso: str) -> float:
    """An ISO 8601 UTC timestamp of a profile as epoch milliseconds."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


@dataclass(frozen=True, kw_only=True, slots=True)
class ProfileEntry:
    """One profile and where it was read."""

    profile: Profile
    topic: str
    partition: int
    offset: int
    completed_ms: float

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


class ProfileBook:
    """The newest profiles, by arrival; ``changed()`` is an event set by the next arrival."""

    def __init__(self, *, max_profiles: int) -> None:
        self._entries: deque[ProfileEntry] = deque()
        self._by_id: dict[str, ProfileEntry] = {}
        self._max = max_profiles
        self._arrived = asyncio.Event()
        self.rejected = 0
        self.seen = 0

    def add(self, entry: ProfileEntry) -> None:
        self.seen += 1
        self._entries.append(entry)
        self._by_id[entry.profile.request_id] = entry
        while len(self._entries) > self._max:
            gone = self._entries.popleft()
            if self._by_id.get(gone.profile.request_id) is gone:
                del self._by_id[gone.profile.request_id]
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()

    def changed(self) -> asyncio.Event:
        """Set once a profile arrives after this call."""
        return self._arrived

    def get(self, request_id: str) -> ProfileEntry | None:
        return self._by_id.get(request_id)

    def __len__(self) -> int:
        return len(self._entries)

    def newest(self) -> Iterator[ProfileEntry]:
        return reversed(self._entries)

    def search(
        self, query: str, *, limit: int, pipeline: str | None = None, status: str | None = None
    ) -> list[ProfileEntry]:
        """The newest profiles whose request id or a key value contains ``query`` (all if empty), of
        ``pipeline`` and with ``status`` when given."""
        needle = query.strip().lower()
        found: list[ProfileEntry] = []
        for entry in self.newest():
            profile = entry.profile
            if (pipeline and profile.pipeline != pipeline) or (status and profile.status != status):
                continue
            if needle and not (
                needle in profile.request_id.lower()
                or any(needle in v.lower() for v in profile.keys.values())
            ):
                continue
            found.append(entry)
            if len(found) >= limit:
                break
        return found

    def since(self, since_ms: float) -> Iterator[ProfileEntry]:
        """Profiles completed at or after ``since_ms``, newest first (arrival order approximates it)."""
        for entry in self.newest():
            if entry.completed_ms < since_ms - _ORDER_SLACK_MS:
                return
            if entry.completed_ms >= since_ms:
                yield entry


class ProfileReader(TopicReader):
    """Reads one output topic into a :class:`ProfileBook`."""

    def __init__(self, *, settings: Settings, topic: str, since_ms: int, book: ProfileBook) -> None:
        super().__init__(settings=settings, topic=topic, partitions=None, since_ms=since_ms)
        self._book = book

    def _add(self, record: Record) -> None:
        try:
            profile = decode_profile(record.value or b"")
        except ValidationError:
            self._book.rejected += 1
            log.debug("%s[%d]@%d is not a profile; skipped", record.topic, record.partition, record.offset)
            return
        self._book.add(
            ProfileEntry(
                profile=profile,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                completed_ms=epoch_ms(profile.timing.completed_at),
            )
        )
