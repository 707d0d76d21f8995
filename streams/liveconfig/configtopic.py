"""The ``graphfetch.configs`` topic: pipeline versions and which one each pipeline serves.

A compacted topic with one partition and two kinds of record:

* ``version/<pipeline>/<version>`` -> :class:`VersionRecord`: the YAML text of a
  version, kept forever (one key per version, so compaction keeps them all);
* ``active/<pipeline>`` -> :class:`ActiveRecord`: the version to serve, or
  ``version: null`` when the pipeline is removed (compaction keeps the latest).

Every worker follows the topic from the beginning, so a new worker converges on
the same versions as the others without sharing a disk.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.profile import iso_ms
from streams.kafka.factory import make_producer
from streams.kafka.topicreader import WholeTopic
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.settings import Settings

VERSION_PREFIX = "version/"
ACTIVE_PREFIX = "active/"


class VersionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pipeline: str
    version: str
    text: str = Field(description="The pipeline's YAML, as pushed.")
    file: str | None = None
    pushed_at: str


class ActiveRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pipeline: str
    version: str | None = Field(description="Version to serve; null removes the pipeline.")
    at: str
    reason: Literal["push", "rollback", "remove"] = "push"


def config_topic_spec(settings: Settings) -> TopicSpec:
    return TopicSpec(
        name=settings.configs_topic,
        partitions=1,
        replication_factor=settings.replication_factor,
        config={"cleanup.policy": "compact"},
    )


def version_key(pipeline: str, version: str) -> str:
    return f"{VERSION_PREFIX}{pipeline}/{version}"


def active_key(pipeline: str) -> str:
    return f"{ACTIVE_PREFIX}{pipeline}"


ConfigRecord = VersionRecord | ActiveRecord


def decode_config_record(key: bytes | None, value: bytes | None) -> ConfigRecord:
    """Decode one record of the configs topic; ValueError says what is wrong with it."""
    name = (key or b"").decode("utf-8", "replace")
    if value is None:
        raise ValueError(f"record {name!r} has no value")
    try:
        if name.startswith(VERSION_PREFIX):
            return VersionRecord.model_validate_json(value)
        if name.startswith(ACTIVE_PREFIX):
            return ActiveRecord.model_validate_json(value)
    except ValidationError as exc:
        raise ValueError(f"record {name!r} is malformed: {exc.errors()[0]['msg']}") from None
    raise ValueError(f"record key {name!r} is neither version/... nor active/...")


@dataclass
class ConfigHistory:
    """What the topic says: every version of every pipeline and the active one."""

    versions: dict[str, dict[str, VersionRecord]] = field(default_factory=dict)
    active: dict[str, ActiveRecord] = field(default_factory=dict)

    def apply(self, record: ConfigRecord) -> None:
        if isinstance(record, VersionRecord):
            self.versions.setdefault(record.pipeline, {})[record.version] = record
        else:
            self.active[record.pipeline] = record

    def pipelines(self) -> list[str]:
        return sorted(set(self.versions) | set(self.active))

    def ordered_versions(self, pipeline: str) -> list[VersionRecord]:
        """Versions in the order they were first pushed (the topic's order)."""
        return list(self.versions.get(pipeline, {}).values())


async def publish_records(settings: Settings, records: Iterable[ConfigRecord]) -> None:
    await ensure_topics(
        settings.bootstrap, [config_topic_spec(settings)], **settings.kafka_security_options()
    )
    producer = make_producer(settings)
    await producer.start()
    try:
        for record in records:
            key = (
                version_key(record.pipeline, record.version)
                if isinstance(record, VersionRecord)
                else active_key(record.pipeline)
            )
            await (
                await producer.send(
                    settings.configs_topic, record.model_dump_json().encode(), key=key.encode()
                )
            )
    finally:
        await producer.stop()


def now_iso() -> str:
    return iso_ms(time.time() * 1000)


async def read_history(settings: Settings, *, idle_s: float = 0.5) -> ConfigHistory:
    """Read the whole configs topic (until it is quiet for ``idle_s``)."""
    await ensure_topics(
        settings.bootstrap, [config_topic_spec(settings)], **settings.kafka_security_options()
    )
    history = ConfigHistory()
    async with WholeTopic(settings, settings.configs_topic, partitions=[0]) as reader:
        async for records in reader.batches(idle_s=idle_s):
            for record in records:
                try:
                    history.apply(decode_config_record(record.key, record.value))
                except ValueError:
                    continue
    return history
