"""How an agent sends records: the one policy for a failed send, in every agent.

:func:`send_all` queues records on the producer and waits until the broker
acknowledged each. A send that fails with a retriable Kafka error (the broker
unreachable, a leader moving, too few in-sync replicas) is tried again, with
exponential backoff, at most :attr:`SendRetry.attempts` times in all; any
other error, or the last attempt failing, raises :class:`SendFailedError`.
The agent then stops, and the worker with it: the work that sent is not
finished, so its offset is not committed, and the member that takes the
partition over replays it from the committed offsets. An error never leaves
a request live and its partition's commit stalled.

Errors::

    GraphfetchError
    └── SendFailedError   a record could not be sent; the worker stops, a successor replays
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError, KafkaTimeoutError

from planner.errors import GraphfetchError

__all__ = ["Outgoing", "SendFailedError", "SendRetry", "retriable", "send_all"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class Outgoing:
    """One record to send."""

    topic: str
    value: bytes
    key: bytes | None = None
    partition: int | None = None
    headers: Sequence[tuple[str, bytes]] = ()

    def destination(self) -> str:
        return self.topic if self.partition is None else f"{self.topic}[{self.partition}]"


@dataclass(frozen=True, kw_only=True)
class SendRetry:
    """How often, and after how long, a send that failed with a retriable error is tried again.

    Each attempt can itself take the producer's request timeout (``GRAPHFETCH_SEND_TIMEOUT_MS``,
    30 s) when the broker does not answer: the defaults (``GRAPHFETCH_SEND_ATTEMPTS`` 5) give a
    broker about two and a half minutes to come back.
    """

    attempts: int = 5
    """Attempts in all, the first included."""
    first_backoff_s: float = 0.5
    max_backoff_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1 (the first attempt counts)")
        if self.first_backoff_s < 0 or self.max_backoff_s < self.first_backoff_s:
            raise ValueError("backoffs must be non-negative, max_backoff_s at least first_backoff_s")

    def backoff_s(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1, 2, ...)."""
        return min(self.max_backoff_s, self.first_backoff_s * 2.0 ** (attempt - 1))


class SendFailedError(GraphfetchError):
    """A record could not be sent; the worker stops and a successor replays from the committed offsets."""

    retriable = True  # by a new worker process, not in place


def retriable(exc: BaseException) -> bool:
    """Whether a failed send may succeed if tried again: a Kafka error aiokafka marks retriable, or
    its KafkaTimeoutError (the record waited the request timeout for room in the producer's buffer,
    or for the broker: transient, though aiokafka does not mark it so)."""
    return isinstance(exc, KafkaTimeoutError) or (isinstance(exc, KafkaError) and exc.retriable)


async def send_all(producer: Any, records: Sequence[Outgoing], *, retry: SendRetry, who: str) -> None:
    """Send ``records`` and return once the broker acknowledged every one of them.

    ``producer`` is an ``AIOKafkaProducer``; ``who`` names the sender in log lines and errors.
    Raises :class:`SendFailedError` (from the Kafka error) when a record cannot be sent.
    """
    pending = list(records)
    for attempt in range(1, retry.attempts + 1):
        failures = await _send_once(producer, pending)
        if not failures:
            return
        fatal = next(((r, e) for r, e in failures if not retriable(e)), None)
        if fatal is not None or attempt == retry.attempts:
            record, exc = fatal or failures[0]
            tries = f"after {attempt} attempts" if fatal is None else "(not retriable)"
            raise SendFailedError(f"{who}: send to {record.destination()} failed {tries}: {exc!r}") from exc
        delay = retry.backoff_s(attempt)
        record, exc = failures[0]
        log.warning(
            "%s: %d of %d sends failed (first: %s, %r); retry %d of %d in %.1f s",
            who,
            len(failures),
            len(pending),
            record.destination(),
            exc,
            attempt,
            retry.attempts - 1,
            delay,
        )
        await asyncio.sleep(delay)
        pending = [r for r, _ in failures]


async def _send_once(producer: Any, records: Sequence[Outgoing]) -> list[tuple[Outgoing, KafkaError]]:
    """Queue every record, then wait for every acknowledgement; the records that failed, and why."""
    failures: list[tuple[Outgoing, KafkaError]] = []
    queued: list[tuple[Outgoing, Any]] = []
    for record in records:
        try:
            ack = await producer.send(
                record.topic,
                record.value,
                key=record.key,
                partition=record.partition,
                headers=list(record.headers),
            )
        except KafkaError as exc:
            failures.append((record, exc))
        else:
            queued.append((record, ack))
    if len(queued) == 1:  # most sends: one record, awaited without gather's future and callbacks
        record, ack = queued[0]
        try:
            await ack
        except KafkaError as exc:
            failures.append((record, exc))
    elif queued:
        outcomes = await asyncio.gather(*(ack for _, ack in queued), return_exceptions=True)
        for (record, _), outcome in zip(queued, outcomes, strict=True):
            if isinstance(outcome, KafkaError):
                failures.append((record, outcome))
            elif isinstance(outcome, BaseException):
                raise outcome
    return failures
