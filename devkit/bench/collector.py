"""Reading profiles back: a :class:`~streams.kafka.topicreader.TopicReader` on the output topic, a future per request id.

The bench registers the request id before it produces the request, so the
profile can never arrive unseen. The topic is read from its beginning: it is
new for every Kafka runtime, and not every broker reports end offsets right
(docs/spec.md#6-brokers-in-tests-and-development).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from aiokafka.structs import ConsumerRecord

from streams.kafka.topicreader import TopicReader
from streams.settings import Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrival:
    """A profile as the bench received it."""

    status: str
    latency_ms: float
    """The profile's ``timing.latency_ms``."""
    received_at: float
    """``time.monotonic()`` when the bench read it."""


class ProfileCollector(TopicReader):
    """Resolves :meth:`expect` futures as profiles arrive; counts duplicates and strays."""

    def __init__(self, settings: Settings, *, topic: str, partitions: int) -> None:
        super().__init__(settings=settings, topic=topic, partitions=partitions)
        self._waiting: dict[str, asyncio.Future[Arrival]] = {}
        self._answered: set[str] = set()
        self.duplicates = 0
        self.strays = 0

    def expect(self, request_id: str) -> asyncio.Future[Arrival]:
        """A future for the profile of ``request_id``; call before producing the request."""
        future: asyncio.Future[Arrival] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        return future

    def forget(self, request_id: str) -> None:
        """Stop waiting for ``request_id`` (its caller gave up)."""
        future = self._waiting.pop(request_id, None)
        if future is not None:
            future.cancel()

    def _add(self, record: ConsumerRecord[bytes, bytes]) -> None:
        self._on_profile(record.value, time.monotonic())

    def _on_profile(self, value: bytes | None, received_at: float) -> None:
        profile = json.loads(value) if value else {}
        request_id = str(profile.get("request_id"))
        if request_id in self._answered:
            self.duplicates += 1
            return
        future = self._waiting.pop(request_id, None)
        if future is None:
            self.strays += 1
            return
        self._answered.add(request_id)
        if not future.done():
            arrival = Arrival(
                status=str(profile.get("status")),
                latency_ms=float(profile.get("timing", {}).get("latency_ms", 0.0)),
                received_at=received_at,
            )
            future.set_result(arrival)

    async def stop(self) -> None:
        await super().stop()
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()
