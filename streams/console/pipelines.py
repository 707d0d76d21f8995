"""Pipelines as the cluster serves them: versions from ``graphfetch.configs``, else the configs folder.

Workers serve the active version of the configs topic where a pipeline has one,
and their configs folder otherwise; the console answers the same way, from the
topic it follows and its own ``GRAPHFETCH_CONFIGS`` folder (which should be the
workers'). Versions are parsed with the workers' checks on first use and kept.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from typing import Literal

from planner import ConfigError, Pipeline
from streams.kafka.topicreader import Record, TopicReader
from streams.liveconfig.catalog import load_catalog, parse_checked
from streams.liveconfig.configtopic import ConfigHistory, VersionRecord, decode_config_record
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Served:
    """The version a pipeline serves now, and why."""

    pipeline: Pipeline
    origin: Literal["configs topic", "configs folder"]


class PipelineCatalog:
    """Every known pipeline, its versions and the one served."""

    def __init__(self, settings: Settings) -> None:
        self.history = ConfigHistory()
        self.folder: dict[str, Pipeline] = {}
        self.folder_problem: str | None = None
        self._parsed: dict[tuple[str, str], Pipeline | ConfigError] = {}
        try:
            self.folder = load_catalog([settings.configs]) if settings.configs.exists() else {}
        except ConfigError as exc:
            self.folder_problem = str(exc)

    def apply(self, record: Record) -> None:
        try:
            self.history.apply(decode_config_record(record.key, record.value))
        except ValueError as exc:
            log.warning("%s[0]@%d ignored: %s", record.topic, record.offset, exc)

    def names(self) -> list[str]:
        return sorted(set(self.folder) | set(self.history.pipelines()))

    def removed(self, name: str) -> bool:
        active = self.history.active.get(name)
        return active is not None and active.version is None

    def served(self, name: str) -> Served | None:
        active = self.history.active.get(name)
        if active is not None:
            if active.version is None:
                return None
            record = self.history.versions.get(name, {}).get(active.version)
            if record is not None and isinstance(parsed := self.parse(record), Pipeline):
                return Served(pipeline=parsed, origin="configs topic")
        folder = self.folder.get(name)
        return None if folder is None else Served(pipeline=folder, origin="configs folder")

    def versions(self, name: str) -> list[VersionRecord]:
        """Pushed versions, newest first."""
        return list(reversed(self.history.ordered_versions(name)))

    def version_text(self, name: str, version: str) -> str | None:
        record = self.history.versions.get(name, {}).get(version)
        if record is not None:
            return record.text
        folder = self.folder.get(name)
        if folder is not None and folder.version == version and folder.file:
            try:
                with open(folder.file, encoding="utf-8") as handle:
                    return handle.read()
            except OSError:
                return None
        return None

    def parse(self, record: VersionRecord) -> Pipeline | ConfigError:
        key = (record.pipeline, record.version)
        if key not in self._parsed:
            try:
                self._parsed[key] = parse_checked(record.text, file=record.file or f"{key[0]}@{key[1]}")
            except ConfigError as exc:
                self._parsed[key] = exc
        return self._parsed[key]

    def diff(self, name: str, old: str, new: str) -> list[str] | None:
        """Unified diff lines from version ``old`` to ``new``; None if either text is unknown."""
        before, after = self.version_text(name, old), self.version_text(name, new)
        if before is None or after is None:
            return None
        return list(
            difflib.unified_diff(
                before.splitlines(), after.splitlines(), fromfile=old, tofile=new, lineterm="", n=3
            )
        )

    def output_topics(self) -> set[str]:
        """The output topics of every version served or known (profiles of older versions too)."""
        topics = {p.config.output.topic for p in self.folder.values()}
        for name in self.history.pipelines():
            for record in self.history.ordered_versions(name):
                parsed = self.parse(record)
                if isinstance(parsed, Pipeline):
                    topics.add(parsed.config.output.topic)
        return topics

    def sensitive_keys(self) -> frozenset[str]:
        """Names of request keys any known pipeline marks sensitive (masked in every preview)."""
        names: set[str] = set()
        for name in self.names():
            served = self.served(name)
            pipelines = [served.pipeline] if served else []
            pipelines += [
                p for r in self.history.ordered_versions(name) if isinstance(p := self.parse(r), Pipeline)
            ]
            for pipeline in pipelines:
                names |= {k for k, spec in pipeline.keys.items() if spec.sensitive}
        return frozenset(names)


class ConfigReader(TopicReader):
    """Follows ``graphfetch.configs`` into a :class:`PipelineCatalog`."""

    def __init__(self, *, settings: Settings, catalog: PipelineCatalog) -> None:
        super().__init__(settings=settings, topic=settings.configs_topic, partitions=1)
        self._catalog = catalog

    def _add(self, record: Record) -> None:
        self._catalog.apply(record)
