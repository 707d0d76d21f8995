"""What the console knows of the cluster: bounded views fed by readers of its topics.

:class:`ClusterView` owns, from :meth:`start` to :meth:`stop`:

* the pipeline catalog, following ``graphfetch.configs`` (and the configs folder);
* the shared execution history, following ``graphfetch.stats`` read-only;
* the newest profiles of every known output topic and the newest dead letters,
  read from ``GRAPHFETCH_CONSOLE_LOOKBACK_S`` ago on;
* a group inspector for the workers page.

Topics that do not exist yet are looked for again every few seconds (never
created by the console, except the two compacted topics the CLI creates too).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Mapping

from aiokafka.errors import KafkaError

from planner import Pipeline
from streams.console.deadletters import DeadLetterBook, DeadLetterReader
from streams.console.groups import GroupInspector
from streams.console.pipelines import ConfigReader, PipelineCatalog
from streams.console.profiles import ProfileBook, ProfileReader
from streams.engine.history import History
from streams.engine.source_states import WorkerSources
from streams.kafka.topicreader import TopicReader
from streams.kafka.topics import describe_partitions, ensure_topics
from streams.liveconfig.configtopic import config_topic_spec
from streams.runtime.statstopic import StatsSync
from streams.settings import Settings

log = logging.getLogger(__name__)
DISCOVERY_INTERVAL_S = 3.0


class ViewState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class ClusterView:
    """``async with ClusterView(settings)``: the console's readers, started and stopped together."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = ViewState.NEW
        self.catalog = PipelineCatalog(settings)
        # min_samples 1: the console shows whatever was observed, with its sample count.
        self.history = History(half_life_s=settings.history_half_life_s, min_samples=1)
        self.profiles = ProfileBook(max_profiles=settings.console_max_profiles)
        self.dead_letters = DeadLetterBook(max_letters=settings.console_max_dead_letters)
        self.groups = GroupInspector(settings)
        self._stats = StatsSync(
            settings, self.history, producer=None, worker_id=f"console-{uuid.uuid4().hex[:8]}"
        )
        self._readers: dict[str, TopicReader] = {}
        self._stopping = asyncio.Event()
        self._discovery: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ClusterView:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    @property
    def source_states(self) -> Mapping[str, WorkerSources]:
        """Each worker's latest source states (breaker, limit, slots), as read from the stats topic."""
        return self._stats.peer_sources

    def problems(self) -> list[str]:
        """Readers that stopped on an error (their view is no longer updated), in words."""
        return [
            f"reading {topic} stopped: {failure!r}; restart the console to read it again"
            for topic, reader in self._readers.items()
            if (failure := reader.failure()) is not None
        ]

    def served(self) -> list[Pipeline]:
        """The version each pipeline serves now."""
        return [s.pipeline for name in self.catalog.names() if (s := self.catalog.served(name))]

    async def start(self) -> None:
        if self.state is not ViewState.NEW:
            raise RuntimeError("ClusterView already started; create a new one")
        self.state = ViewState.RUNNING
        settings = self.settings
        await ensure_topics(
            settings.bootstrap, [config_topic_spec(settings)], **settings.kafka_security_options()
        )
        configs = ConfigReader(settings=settings, catalog=self.catalog)
        await configs.start()
        self._readers[settings.configs_topic] = configs
        await self.groups.start()
        await self._stats.start()
        await self._discover()
        self._discovery = asyncio.ensure_future(self._discover_every_interval())

    async def stop(self) -> None:
        """Stop every reader; safe to call twice."""
        if self.state is not ViewState.RUNNING:
            self.state = ViewState.STOPPED
            return
        self.state = ViewState.STOPPED
        self._stopping.set()
        if self._discovery is not None:
            self._discovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._discovery
        for reader in self._readers.values():
            await reader.stop()
        await self._stats.stop()
        await self.groups.close()

    async def _discover_every_interval(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), DISCOVERY_INTERVAL_S)
                return
            try:
                await self._discover()
            except KafkaError as exc:  # the broker is away: look again at the next interval
                log.warning("console: looking for topics failed (%r); trying again", exc)

    async def _discover(self) -> None:
        """Start a reader for the DLQ and for each output topic that exists and is not read yet."""
        settings = self.settings
        since_ms = int((time.time() - settings.console_lookback_s) * 1000)
        wanted = {settings.dlq_topic, *self.catalog.output_topics()} - set(self._readers)
        for topic in sorted(wanted):
            if not await describe_partitions(settings.bootstrap, topic, **settings.kafka_security_options()):
                continue
            reader: TopicReader
            if topic == settings.dlq_topic:
                reader = DeadLetterReader(settings=settings, since_ms=since_ms, book=self.dead_letters)
            else:
                reader = ProfileReader(settings=settings, topic=topic, since_ms=since_ms, book=self.profiles)
            await reader.start()
            self._readers[topic] = reader
            log.info("console: reading %s", topic)
