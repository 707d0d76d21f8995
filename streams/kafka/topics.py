"""Topic administration: declare the topics graphfetch needs and make sure they exist.

Topics are always created explicitly: brokers that auto-create topics (Tansu
does, on any Metadata request naming an unknown topic) pick their own
partition count, and graphfetch relies on related topics having the same
count so that one consumer owns the same partition numbers of each.

Partitions are never added to an existing topic. Adding partitions moves keys
to other partitions, which breaks that co-partitioning, and Tansu does not
support CreatePartitions at all; a topic with fewer partitions than declared
is reported with a warning for an operator to fix.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.metadata import MetadataRequest

__all__ = ["TopicSpec", "describe_partitions", "ensure_topics"]

log = logging.getLogger(__name__)

_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
_NO_ERROR = 0
_UNKNOWN_TOPIC_OR_PARTITION = 3
_TOPIC_ALREADY_EXISTS = 36
_NO_CONTROLLER_BACKOFF_S = 0.2


@dataclass(frozen=True, kw_only=True)
class TopicSpec:
    """A topic as graphfetch needs it: name, partition count, replication and topic config.

    ``config`` holds Kafka topic configs, e.g. ``{"cleanup.policy": "compact"}``;
    it is copied into a read-only mapping.
    """

    name: str
    partitions: int
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _TOPIC_NAME.fullmatch(self.name) or self.name in (".", ".."):
            raise ValueError(
                f"Topic name {self.name!r} is not valid: use 1 to 249 characters "
                "from letters, digits, '.', '_' and '-'."
            )
        if self.partitions < 1:
            raise ValueError(f"Topic {self.name}: partitions must be at least 1.")
        if self.replication_factor < 1:
            raise ValueError(f"Topic {self.name}: replication_factor must be at least 1.")
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))


async def ensure_topics(
    bootstrap: str,
    specs: Sequence[TopicSpec],
    *,
    timeout_s: float = 10,
    **client_kwargs: Any,
) -> list[str]:
    """Create the topics of ``specs`` that do not exist; return the names created.

    Idempotent: existing topics are left as they are (a warning names any with
    fewer partitions than declared). Returns once metadata shows every topic
    with a leader for each partition, so producers and consumers started next
    see the declared layout. ``client_kwargs`` go to ``AIOKafkaAdminClient``
    (security settings and the like). Raises ``TimeoutError`` after
    ``timeout_s`` and the broker's error (an ``aiokafka.errors.KafkaError``)
    when it refuses a topic, e.g. a replication factor above the broker count.
    """
    by_name: dict[str, TopicSpec] = {}
    for spec in specs:
        known = by_name.setdefault(spec.name, spec)
        if known != spec:
            raise ValueError(f"Topic {spec.name} is declared twice, differently: {known}, {spec}")
    if not by_name:
        return []
    options = {"request_timeout_ms": int(timeout_s * 1000), **client_kwargs}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            created = await _create_absent(admin, by_name, timeout_ms=int(timeout_s * 1000))
            counts = await _wait_for_leaders(admin, list(by_name))
    except TimeoutError as exc:
        raise TimeoutError(
            f"Topics {sorted(by_name)} were not all ready on {bootstrap} within {timeout_s:g} s."
        ) from exc
    finally:
        await admin.close()
    for name, spec in by_name.items():
        if name not in created and counts[name] < spec.partitions:
            log.warning(
                "topic %s has %d partitions but %d are declared; graphfetch does not add "
                "partitions (it would move keys to other partitions). Recreate the topic "
                "with %d partitions to use them.",
                name,
                counts[name],
                spec.partitions,
                spec.partitions,
            )
    return created


async def describe_partitions(bootstrap: str, topic: str, **client_kwargs: Any) -> int:
    """Return the partition count of ``topic``, or 0 when it does not exist.

    Asks with auto-creation disabled: a plain metadata request for an unknown
    topic makes Tansu (and Kafka with ``auto.create.topics.enable``) create it.
    """
    client = AIOKafkaClient(bootstrap_servers=bootstrap, **client_kwargs)
    try:
        await client.bootstrap()
        request = MetadataRequest([topic], allow_auto_topic_creation=False)
        response = await client.send(client.get_random_node(), request)
    finally:
        await client.close()
    for described in response.to_object()["topics"]:
        if described["topic"] != topic:
            continue
        error_code = described["error_code"]
        if error_code == _UNKNOWN_TOPIC_OR_PARTITION:
            return 0
        if error_code != _NO_ERROR:
            raise for_code(error_code)(f"describing topic {topic} on {bootstrap}")
        return len(described["partitions"])
    return 0


async def _create_absent(
    admin: AIOKafkaAdminClient, by_name: Mapping[str, TopicSpec], *, timeout_ms: int
) -> list[str]:
    """Send one CreateTopics request for every spec; return the names the broker created."""
    new_topics = [
        NewTopic(
            spec.name,
            spec.partitions,
            spec.replication_factor,
            topic_configs=dict(spec.config),
        )
        for spec in by_name.values()
    ]
    while True:
        try:
            response = await admin.create_topics(new_topics, timeout_ms=timeout_ms)
            break
        except AttributeError as exc:
            if "nodeId" not in str(exc):
                raise
            # aiokafka 0.14 sends CreateTopics to the controller its metadata names; metadata fetched
            # while a broker is coming back can name none, and it then fails on None.nodeId. The
            # caller's timeout bounds the retries.
            log.debug("no controller in the cluster metadata yet; asking again")
            await asyncio.sleep(_NO_CONTROLLER_BACKOFF_S)
    created: list[str] = []
    for name, error_code, *rest in response.topic_errors:  # v0 has no error_message
        if error_code == _NO_ERROR:
            log.info("created topic %s with %d partitions", name, by_name[name].partitions)
            created.append(name)
        elif error_code != _TOPIC_ALREADY_EXISTS:
            detail = rest[0] if rest and rest[0] else "no detail from the broker"
            raise for_code(error_code)(f"creating topic {name}: {detail}")
    return created


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Poll metadata until every topic has a leader per partition; return partition counts.

    Kafka has no notification for topic creation, so this polls with backoff.
    The topics exist by now, so the auto-creating metadata request of
    ``describe_topics`` cannot create one with the wrong partition count.
    """
    delay = 0.01
    started = time.monotonic()
    while True:
        counts: dict[str, int] = {}
        for topic in await admin.describe_topics(names):
            partitions = topic["partitions"]
            ready = (
                topic["error_code"] == _NO_ERROR
                and partitions
                and all(p["error_code"] == _NO_ERROR and p["leader"] >= 0 for p in partitions)
            )
            if ready:
                counts[topic["topic"]] = len(partitions)
        if counts.keys() >= set(names):
            log.debug("topics %s ready after %.3f s", names, time.monotonic() - started)
            return counts
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
