"""Live configuration: a worker follows its configs folder and the ``graphfetch.configs`` topic.

A new version is validated completely (the same checks as ``graphfetch
validate``) before it replaces the old one; an invalid one is logged with its
precise problems, counted, and the previous version keeps serving. A removed
pipeline stops taking requests; requests already planned with it finish.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from planner import ConfigError, Pipeline
from streams.kafka.topicreader import WholeTopic
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.liveconfig.catalog import load_catalog_reporting, parse_checked
from streams.liveconfig.configtopic import (
    ActiveRecord,
    VersionRecord,
    config_topic_spec,
    decode_config_record,
)
from streams.liveconfig.store import PipelineStore
from streams.settings import Settings

log = logging.getLogger(__name__)
Count = Callable[[str], None]


class ConfigSync:
    """Applies config changes to a worker's PipelineStore while the worker runs."""

    def __init__(self, settings: Settings, store: PipelineStore, *, count: Count | None = None) -> None:
        self.settings = settings
        self.store = store
        self._count = count or (lambda _name: None)
        self._from_folder: dict[str, str] = {}  # pipeline name -> file it came from
        self._stopping = asyncio.Event()
        self._topics_ready: set[str] = {p.config.output.topic for p in store.all_current()}
        for pipeline in store.all_current():
            if pipeline.file:
                self._from_folder[pipeline.name] = pipeline.file

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        jobs = [asyncio.ensure_future(self.follow_topic())]
        if self.settings.watch_configs and self.settings.configs.exists():
            jobs.append(asyncio.ensure_future(self.watch_folder()))
        try:
            await asyncio.gather(*jobs)
        finally:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)

    async def ensure_output_topics(self) -> None:
        """Create the output topic of a pipeline added at run time (with the configured partitions)."""
        missing = {p.config.output.topic for p in self.store.all_current()} - self._topics_ready
        if not missing:
            return
        settings = self.settings
        specs = [
            TopicSpec(name=t, partitions=settings.partitions, replication_factor=settings.replication_factor)
            for t in sorted(missing)
        ]
        await ensure_topics(settings.bootstrap, specs, **settings.kafka_security_options())
        self._topics_ready |= missing

    # -- the folder -------------------------------------------------------------

    async def watch_folder(self) -> None:
        from watchfiles import awatch

        path = self.settings.configs
        async for _changes in awatch(path, stop_event=self._stopping, debounce=200, step=50):
            self.reload_folder()
            await self.ensure_output_topics()

    def reload_folder(self) -> None:
        """Activate every valid pipeline of the folder; keep old versions of invalid ones."""
        pipelines, problems = load_catalog_reporting([self.settings.configs])
        for problem in problems:
            self._count("configs.rejected")
            log.error("config change rejected, previous version keeps serving: %s", problem)
        failed_files = {p.file for p in problems}
        for pipeline in pipelines.values():
            if self.store.activate(pipeline):
                self._count("configs.activated")
            self._from_folder[pipeline.name] = pipeline.file or ""
        for name, file in list(self._from_folder.items()):
            if name in pipelines or file in failed_files:
                continue
            if self.store.remove(name):
                self._count("configs.removed")
            del self._from_folder[name]

    # -- the topic ----------------------------------------------------------------

    async def follow_topic(self) -> None:
        settings = self.settings
        await ensure_topics(
            settings.bootstrap, [config_topic_spec(settings)], **settings.kafka_security_options()
        )
        topic = settings.configs_topic
        # Rare changes: poll gently.
        async with WholeTopic(settings, topic, partitions=[0], poll_ms=1000, fetch_max_wait_ms=100) as reader:
            following = asyncio.ensure_future(self._apply_records(reader))
            stop = asyncio.ensure_future(self._stopping.wait())
            try:
                await asyncio.wait({following, stop}, return_when=asyncio.FIRST_COMPLETED)
                if following.done():
                    following.result()  # the read ended: with a non-retriable error
            finally:
                for job in (following, stop):
                    job.cancel()
                await asyncio.gather(following, stop, return_exceptions=True)

    async def _apply_records(self, reader: WholeTopic) -> None:
        async for records in reader.batches():
            for record in records:
                self.apply_record(record.key, record.value, where=f"{reader.topic}[0]@{record.offset}")
            await self.ensure_output_topics()

    def apply_record(self, key: bytes | None, value: bytes | None, *, where: str) -> None:
        try:
            record = decode_config_record(key, value)
        except ValueError as exc:
            self._count("configs.rejected")
            log.error("%s: %s", where, exc)
            return
        if isinstance(record, VersionRecord):
            self._add_version(record, where=where)
        else:
            self._activate(record, where=where)

    def _add_version(self, record: VersionRecord, *, where: str) -> Pipeline | None:
        try:
            pipeline = parse_checked(record.text, file=f"{where} ({record.file or record.pipeline})")
        except ConfigError as exc:
            self._count("configs.rejected")
            log.error("config version rejected, previous version keeps serving: %s", exc)
            return None
        if pipeline.name != record.pipeline or pipeline.version != record.version:
            self._count("configs.rejected")
            log.error(
                "%s: record says %s@%s but its text is %s@%s; rejected",
                where,
                record.pipeline,
                record.version,
                pipeline.name,
                pipeline.version,
            )
            return None
        self.store.add_version(pipeline)
        return pipeline

    def _activate(self, record: ActiveRecord, *, where: str) -> None:
        if record.version is None:
            if self.store.remove(record.pipeline):
                self._count("configs.removed")
            self._from_folder.pop(record.pipeline, None)
            return
        pipeline = self.store.known_version(record.pipeline, record.version)
        if pipeline is None:
            self._count("configs.rejected")
            log.error(
                "%s: cannot activate %s@%s: that version is unknown or was rejected; previous keeps serving",
                where,
                record.pipeline,
                record.version,
            )
            return
        if self.store.activate(pipeline):
            self._count("configs.activated")
            log.info("%s: pipeline %s now serves version %s", where, record.pipeline, record.version)
