"""Every profile of the output topic, by request id: what the chaos figures are counted from.

A :class:`~streams.kafka.topicreader.TopicCollector` that also keeps, per request id,
each profile's status, errors and arrival time, so a duplicate can be told
apart from a first answer and a scenario can ask what was answered when.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.structs import ConsumerRecord

from streams.kafka.topicreader import TopicCollector
from streams.settings import Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    """One profile as the ledger read it."""

    status: str
    errors: tuple[str, ...]
    """``<node>:<kind>`` of each error the profile carries (``fields.<name>:field`` for a field)."""
    arrived: float
    """``time.monotonic()`` when it was read."""


class ProfileLedger(TopicCollector):
    """Reads the output topic in the background; :meth:`wait_until` wakes after every batch."""

    def __init__(self, settings: Settings, *, topic: str) -> None:
        super().__init__(settings=settings, topic=topic, partitions=settings.partitions)
        self.seen: dict[str, list[Seen]] = {}

    def _add(self, record: ConsumerRecord[bytes, bytes]) -> None:
        super()._add(record)
        received = self.received[-1]
        request_id = received.value.get("request_id") if isinstance(received.value, dict) else None
        if isinstance(request_id, str):
            errors = received.value.get("errors") or {}
            kinds = tuple(f"{where}:{error.get('kind')}" for where, error in errors.items())
            seen = Seen(status=str(received.value.get("status")), errors=kinds, arrived=received.arrived)
            self.seen.setdefault(request_id, []).append(seen)
