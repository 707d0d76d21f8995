"""Sharing execution history through the compacted topic ``graphfetch.stats``.

One partition; each record is one worker's latest :meth:`History.snapshot`,
keyed by its worker id, with ``worker`` added to the JSON value. Compaction
keeps the latest record per worker, so a worker that starts reads every
peer's latest snapshot, including those of workers gone since (their
observations fade with the half-life like any other).

Beside it, under the key ``<worker id>/sources``, the worker publishes the
current state of each source it has started
(:class:`~streams.engine.source_states.WorkerSources`: concurrency limit, slots
in use, breaker, sheds), which is the worker's own and not part of the shared
history; readers keep each worker's latest in :attr:`StatsSync.peer_sources`.

:class:`StatsSync` publishes this worker's snapshot every
``publish_interval_s`` and once more when it stops, and follows the topic:
:meth:`StatsSync.start` returns once it has caught up, so the worker serves
informed. Catching up cannot trust end offsets (the local broker reports a wrong
high watermark after batched writes: docs/spec.md#6-brokers-in-tests-and-development), so it reads until
the topic has been quiet for ``idle_s``, until it meets a record written after
it began reading, or until ``catch_up_timeout_s``, whichever comes first.

Stats are advisory: a failed publish or a malformed record is logged and
counted, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from streams.engine.history.book import History
from streams.engine.source_states import SourceState, WorkerSources
from streams.kafka.topicreader import WholeTopic
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.settings import Settings

_LAST_PUBLISH_S = 5.0
"""How long a stopping worker waits for its last snapshot's acknowledgement (a broker may be gone)."""

__all__ = ["StatsOptions", "StatsSync", "default_worker_id", "stats_topic_spec"]

log = logging.getLogger(__name__)
Count = Callable[[str], None]
SOURCES_KEY_SUFFIX = "/sources"
"""``<worker id>/sources``: the key of a worker's source states."""
_FOLLOW_POLL_MS = 1000


@dataclass(frozen=True, kw_only=True)
class StatsOptions:
    """Where and how often statistics are shared."""

    topic: str = "graphfetch.stats"
    publish_interval_s: float = 5.0
    max_age_s: float = 3600.0
    """Snapshots older than this are ignored: their observations have decayed to nothing useful."""
    idle_s: float = 0.5
    catch_up_timeout_s: float = 5.0
    retention_ms: int = 7 * 24 * 3600 * 1000
    """Records of workers that stopped publishing are deleted after this (compact,delete)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> StatsOptions:
        """The topic and publish interval a worker's settings name; the rest as defaulted here."""
        return cls(topic=settings.stats_topic, publish_interval_s=settings.stats_interval_s)


def stats_topic_spec(settings: Settings, options: StatsOptions) -> TopicSpec:
    """One partition (a total order to catch up on), compacted, old workers' records deleted."""
    return TopicSpec(
        name=options.topic,
        partitions=1,
        replication_factor=settings.replication_factor,
        config={"cleanup.policy": "compact,delete", "retention.ms": str(options.retention_ms)},
    )


def default_worker_id() -> str:
    """Unique per process: a restarted worker reads its previous life's snapshot as a peer's."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class SyncState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class StatsSync:
    """Publishes this worker's history and merges its peers'; ``start()`` then ``stop()``.

    Without a producer it only reads: what ``graphfetch plan --explain`` needs.
    """

    def __init__(
        self,
        settings: Settings,
        history: History,
        *,
        producer: AIOKafkaProducer | None,
        worker_id: str,
        options: StatsOptions | None = None,
        count: Count | None = None,
        sources: Callable[[], list[SourceState]] | None = None,
    ) -> None:
        self.settings = settings
        self.history = history
        self.worker_id = worker_id
        self.peer_sources: dict[str, WorkerSources] = {}
        """Each other worker's latest source states, by worker id."""
        self._sources = sources
        self.options = options or StatsOptions.from_settings(settings)
        self.state = SyncState.NEW
        self._producer = producer
        self._count = count or (lambda _name: None)
        self._reader: WholeTopic | None = None
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> StatsSync:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Create the topic if absent, catch up with the peers' snapshots (bounded), then run on."""
        if self.state is not SyncState.NEW:
            raise RuntimeError("StatsSync already started; create a new one")
        self.state = SyncState.RUNNING
        settings = self.settings
        try:
            await ensure_topics(
                settings.bootstrap,
                [stats_topic_spec(settings, self.options)],
                **settings.kafka_security_options(),
            )
            reader = WholeTopic(
                settings, self.options.topic, partitions=[0], poll_ms=_FOLLOW_POLL_MS, fetch_max_wait_ms=50
            )
            await reader.__aenter__()
            self._reader = reader
            await self._catch_up(reader)
        except BaseException:
            self.state = SyncState.STOPPED
            if self._reader is not None:
                await self._reader.__aexit__(None, None, None)
            raise
        self._tasks = [asyncio.ensure_future(self._follow(reader))]
        if self._producer is not None:
            self._tasks.append(asyncio.ensure_future(self._publish_every_interval()))

    async def stop(self) -> None:
        """Stop following, publish a last snapshot, close the consumer. Safe to call twice.

        Call it before the shared producer stops.
        """
        if self.state is not SyncState.RUNNING:
            self.state = SyncState.STOPPED
            return
        self.state = SyncState.STOPPED
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            async with asyncio.timeout(_LAST_PUBLISH_S):
                await self.publish()
        except TimeoutError:
            log.warning(
                "stats: the last snapshot was not acknowledged within %g s; peers keep the one before",
                _LAST_PUBLISH_S,
            )
        finally:  # closed even when the publish fails or is cancelled (a reader has no group to leave)
            if self._reader is not None:
                await self._reader.__aexit__(None, None, None)

    async def publish(self) -> bool:
        """Publish this worker's snapshot now; False when read-only or (logged, counted) refused."""
        if self._producer is None:
            return False
        value = self._encode()
        try:
            await (await self._producer.send(self.options.topic, value, key=self.worker_id.encode()))
            if self._sources is not None:
                states = WorkerSources(
                    worker=self.worker_id, at_s=self.history.clock(), sources=self._sources()
                )
                key = f"{self.worker_id}{SOURCES_KEY_SUFFIX}".encode()
                await (
                    await self._producer.send(
                        self.options.topic, states.model_dump_json(by_alias=True).encode(), key=key
                    )
                )
        except KafkaError as exc:
            self._count("stats.publish_failed")
            log.warning(
                "publishing stats to %s failed (%s); next try in %gs",
                self.options.topic,
                exc,
                self.options.publish_interval_s,
            )
            return False
        self._count("stats.published")
        return True

    def _encode(self) -> bytes:
        """The snapshot as JSON; when too large for one message, only the most recently observed keys."""
        limit: int | None = None
        while True:
            snapshot = self.history.snapshot(max_keys=limit)
            value = json.dumps({**snapshot, "worker": self.worker_id}, separators=(",", ":")).encode()
            keys = len(snapshot["keys"])
            if len(value) <= self.settings.max_message_bytes or keys == 0:
                return value
            limit = keys // 2
            log.warning(
                "stats snapshot of %d keys is %d bytes; publishing the %d most recent",
                keys,
                len(value),
                limit,
            )
            self._count("stats.trimmed")

    async def _publish_every_interval(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.options.publish_interval_s)
                return
            await self.publish()

    async def _catch_up(self, reader: WholeTopic) -> None:
        started_ms = time.time() * 1000
        merged = 0
        try:
            async with asyncio.timeout(self.options.catch_up_timeout_s):
                async for records in reader.batches(idle_s=self.options.idle_s):
                    merged += sum(self._apply(r.key, r.value, offset=r.offset) for r in records)
                    if records[-1].timestamp >= started_ms:
                        break
        except TimeoutError:
            log.warning(
                "stats topic %s still busy after %gs; serving with the %d snapshots read so far",
                self.options.topic,
                self.options.catch_up_timeout_s,
                merged,
            )
            return
        log.info("stats: caught up with %d peer snapshots from %s", merged, self.options.topic)

    async def _follow(self, reader: WholeTopic) -> None:
        try:
            async for records in reader.batches():
                for record in records:
                    self._apply(record.key, record.value, offset=record.offset)
        except KafkaError as exc:  # not retriable; stats are advisory: serve on without the peers'
            self._count("stats.follow_failed")
            log.error(
                "following %s stopped (%r); serving with the history this worker sees",
                self.options.topic,
                exc,
            )

    def _apply(self, key: bytes | None, value: bytes | None, *, offset: int) -> bool:
        """Merge one record's snapshot; True when a peer's snapshot was taken."""
        where = f"{self.options.topic}[0]@{offset}"
        worker = (key or b"").decode("utf-8", "replace")
        if worker.endswith(SOURCES_KEY_SUFFIX):
            self._apply_sources(worker.removesuffix(SOURCES_KEY_SUFFIX), value, where=where)
            return False
        if not worker or worker == self.worker_id:
            return False
        if value is None:
            self.history.drop_peer(worker)
            return False
        try:
            document: Any = json.loads(value)
            if not isinstance(document, dict):
                raise ValueError("the value is not a JSON object")
            document.pop("worker", None)
            age_s = self.history.clock() - float(document.get("at_s", 0))
            if age_s > self.options.max_age_s:
                self._count("stats.stale")
                return False
            taken = self.history.merge_peer(worker, document)
        except (ValueError, TypeError) as exc:
            self._count("stats.rejected")
            log.warning("%s: stats of %s ignored: %s", where, worker, exc)
            return False
        return taken

    def _apply_sources(self, worker: str, value: bytes | None, *, where: str) -> None:
        if not worker or worker == self.worker_id:
            return
        if value is None:
            self.peer_sources.pop(worker, None)
            return
        try:
            states = WorkerSources.model_validate_json(value)
        except ValidationError as exc:
            self._count("stats.rejected")
            log.warning("%s: source states of %s ignored: %s", where, worker, exc.errors()[0]["msg"])
            return
        if self.history.clock() - states.at_s <= self.options.max_age_s:
            self.peer_sources[worker] = states
