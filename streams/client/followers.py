"""Following a topic in the background and handing each event to the request waiting for it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from streams.kafka.topicreader import Record, WholeTopic
from streams.settings import Settings

log = logging.getLogger(__name__)

E = TypeVar("E")

Decode = Callable[[bytes], tuple[str | None, E]]
"""A record value -> (the request id it answers, the event); ``ValueError`` if it is not one."""


class Follower(Generic[E]):
    """Reads ``topic`` from ``since_ms`` for ever, calling ``deliver(request_id, event)`` for each event.

    A record that does not decode is logged with its coordinates and skipped: it answers no
    request this client can name. A read that fails (the topic does not exist, the broker refuses)
    ends the follower; ``failed`` then holds the error, and ``on_failure`` is told.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        *,
        since_ms: int,
        decode: Decode[E],
        deliver: Callable[[str, E], None],
        on_failure: Callable[[str, BaseException], None],
    ) -> None:
        self.topic = topic
        self.failed: BaseException | None = None
        self._settings = settings
        self._since_ms = since_ms
        self._decode = decode
        self._deliver = deliver
        self._on_failure = on_failure
        self._task = asyncio.create_task(self._follow(), name=f"graphfetch-client follow {topic}")

    async def _follow(self) -> None:
        try:
            async with WholeTopic(self._settings, self.topic, since_ms=self._since_ms) as reader:
                async for records in reader.batches():
                    for record in records:
                        self._route(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to every waiter of this topic: nothing is swallowed
            self.failed = exc
            self._on_failure(self.topic, exc)

    def _route(self, record: Record) -> None:
        if record.value is None:
            return
        try:
            request_id, event = self._decode(record.value)
        except (ValueError, RecursionError) as exc:
            log.warning(
                "%s[%d]@%d: not a graphfetch event, skipped: %s",
                record.topic,
                record.partition,
                record.offset,
                exc,
            )
            return
        if request_id is not None:
            self._deliver(request_id, event)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
