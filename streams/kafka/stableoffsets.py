"""Committed offsets that wait for open transactions to end (KIP-447 ``require_stable``).

A transaction's offsets become committed offsets when its coordinator writes
the commit markers, a few milliseconds *after* EndTxn has answered. A consumer
that asks for its group's committed offsets in that window is told the
previous ones, and replays records whose output the transaction already
committed: measured on Apache Kafka 4.4 (2026-12-03), 31 of 100 OffsetFetch
v3 requests sent right after a commit returned the offset before it. An
exactly-once worker asks in exactly that window at every rebalance: it
commits when its partitions are revoked, then fetches the offsets of those it
is given back. So one rebalance could answer requests twice.

OffsetFetch v7 and later carry ``require_stable``: while a partition has
transactional offsets pending, the broker answers UNSTABLE_OFFSET_COMMIT
instead of a stale offset, and the consumer asks again. Apache Kafka's Java
consumer sets it under ``read_committed``; aiokafka 0.14 sends OffsetFetch v3
at most, so :class:`ReadCommittedConsumer` gives its group coordinator the
newer request. A broker that does not serve v7 is asked with v3, as before.

A ``read_committed`` consumer's ``end_offsets()`` is each partition's last
stable offset: it stops at the first record of the oldest transaction still
open, though records committed by other producers may lie after it (the open
transaction of a SIGKILLed worker holds it back until the broker aborts it).
:meth:`ReadCommittedConsumer.high_watermarks` asks for the high watermark
instead, the end of the log as a ``read_uncommitted`` reader sees it: once a
``read_committed`` consumer has read up to there, every transaction written
before it has ended and all it committed has been read.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.commit import OffsetFetchRequest_v1, OffsetFetchRequest_v2, OffsetFetchRequest_v3
from aiokafka.protocol.offset import OffsetRequest
from aiokafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Int64,
    Schema,
    TaggedFields,
)
from aiokafka.structs import OffsetAndMetadata

__all__ = ["ReadCommittedConsumer", "UnstableOffsetCommitError"]

log = logging.getLogger(__name__)

_OFFSET_FETCH = 9
_READ_UNCOMMITTED = 0
_LATEST = -1
_WATERMARK_ATTEMPTS = 10
_WATERMARK_BACKOFF_S = 0.2
_STABLE_VERSION = 7
_NO_OFFSET = -1


class UnstableOffsetCommitError(kafka_errors.KafkaError):  # type: ignore[misc]
    """A partition's offsets are part of a transaction still open or being completed; ask again."""

    errno = 88
    message = "UNSTABLE_OFFSET_COMMIT"
    description = "There are unstable offsets that need to be cleared."
    retriable = True


class _OffsetFetchResponseV7(Response):  # type: ignore[misc]
    API_KEY = _OFFSET_FETCH
    API_VERSION = _STABLE_VERSION
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "topics",
            CompactArray(
                ("name", CompactString("utf-8")),
                (
                    "partitions",
                    CompactArray(
                        ("partition_index", Int32),
                        ("committed_offset", Int64),
                        ("committed_leader_epoch", Int32),
                        ("metadata", CompactString("utf-8")),
                        ("error_code", Int16),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("error_code", Int16),
        ("tags", TaggedFields),
    )


class _OffsetFetchRequestV7(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = _OFFSET_FETCH
    API_VERSION = _STABLE_VERSION
    RESPONSE_TYPE = _OffsetFetchResponseV7
    SCHEMA = Schema(
        ("group_id", CompactString("utf-8")),
        (
            "topics",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("partition_indexes", CompactArray(Int32)),
                ("tags", TaggedFields),
            ),
        ),
        ("require_stable", Boolean),
        ("tags", TaggedFields),
    )


class _StableOffsetFetchRequest(
    Request[OffsetFetchRequest_v1 | OffsetFetchRequest_v2 | OffsetFetchRequest_v3 | _OffsetFetchRequestV7]  # type: ignore[misc]
):
    """OffsetFetch v7 with ``require_stable`` where the connection's broker serves it, else v3 to v1."""

    API_KEY = _OFFSET_FETCH

    def __init__(self, group_id: str, partitions: dict[str, list[int]]) -> None:
        self._group_id = group_id
        self._partitions = partitions

    def build(self, request_struct_class: type[Any]) -> Any:
        if request_struct_class is _OffsetFetchRequestV7:
            no_tags: dict[int, bytes] = {}
            topics = [(topic, indexes, no_tags) for topic, indexes in self._partitions.items()]
            return request_struct_class(self._group_id, topics, True, no_tags)
        return request_struct_class(self._group_id, list(self._partitions.items()))


def _partitions(response: Any) -> Iterator[tuple[str, int, int, str | None, int]]:
    """(topic, partition, offset, metadata, error code) of an OffsetFetch response of any version."""
    if response.API_VERSION >= _STABLE_VERSION:
        for topic, partitions, _ in response.topics:
            for partition, offset, _epoch, metadata, error_code, _ in partitions:
                yield topic, partition, offset, metadata, error_code
    else:
        for topic, partitions in response.topics:
            for partition, offset, metadata, error_code in partitions:
                yield topic, partition, offset, metadata, error_code


class _StableOffsetsCoordinator(GroupCoordinator):  # type: ignore[misc]
    """aiokafka's group coordinator, fetching committed offsets with ``require_stable``."""

    async def _do_fetch_commit_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, Any]:
        by_topic: dict[str, list[int]] = collections.defaultdict(list)
        for tp in partitions:
            by_topic[tp.topic].append(tp.partition)
        response = await self._send_req(_StableOffsetFetchRequest(self.group_id, by_topic))
        if response.API_VERSION >= 2:  # a group-level error code, from v2 on
            self._raise_for(response.error_code)
        offsets: dict[TopicPartition, Any] = {}
        for topic, partition, offset, metadata, error_code in _partitions(response):
            if error_code == kafka_errors.UnknownTopicOrPartitionError.errno:
                log.warning("OffsetFetch: unknown topic %s", topic)
                continue
            self._raise_for(error_code)
            if offset != _NO_OFFSET:
                offsets[TopicPartition(topic, partition)] = OffsetAndMetadata(offset, metadata or "")
        return offsets

    def _raise_for(self, error_code: int) -> None:
        if error_code == kafka_errors.NoError.errno:
            return
        if error_code == UnstableOffsetCommitError.errno:
            log.debug("group %s: committed offsets still in a transaction; asking again", self.group_id)
            raise UnstableOffsetCommitError()
        error = kafka_errors.for_code(error_code)
        if error is kafka_errors.NotCoordinatorForGroupError:
            self.coordinator_dead()
        if error is kafka_errors.GroupAuthorizationFailedError:
            raise error(self.group_id)
        raise error()


class ReadCommittedConsumer(AIOKafkaConsumer):  # type: ignore[misc]
    """An AIOKafkaConsumer whose group's committed offsets are asked for with ``require_stable``.

    The consumer builds its group coordinator in :meth:`start` and the
    coordinator's first fetch follows at once, so the coordinator is given its
    behaviour as it is stored (the same class swap as
    :class:`streams.runtime.transactions.TransactionalProducer`'s).
    """

    @property
    def _coordinator(self) -> Any:
        return self.__dict__.get("_group_coordinator")

    @_coordinator.setter
    def _coordinator(self, coordinator: Any) -> None:
        if type(coordinator) is GroupCoordinator:
            coordinator.__class__ = _StableOffsetsCoordinator
        self.__dict__["_group_coordinator"] = coordinator

    async def high_watermarks(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Each partition's high watermark: the end of its log with the records of transactions still
        open (``end_offsets()`` of a ``read_committed`` consumer stops before the oldest of them).

        Retries a retriable error (a leader moving, metadata not there yet) a few times, then raises it.
        """
        attempt = 1
        while True:
            try:
                return await self._list_latest(partitions)
            except kafka_errors.KafkaError as exc:
                if not exc.retriable or attempt >= _WATERMARK_ATTEMPTS:
                    raise
                if exc.invalid_metadata:
                    self._client.force_metadata_update()
            attempt += 1
            await asyncio.sleep(_WATERMARK_BACKOFF_S)

    async def _list_latest(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        client = self._client
        await client._maybe_wait_metadata()
        by_leader: dict[int, dict[str, list[tuple[int, int]]]] = collections.defaultdict(
            lambda: collections.defaultdict(list)
        )
        for tp in partitions:
            leader = client.cluster.leader_for_partition(tp)
            if leader is None:
                client.add_topic(tp.topic)
                raise kafka_errors.StaleMetadata(tp)
            if leader == -1:
                raise kafka_errors.LeaderNotAvailableError(tp)
            by_leader[leader][tp.topic].append((tp.partition, _LATEST))
        ends: dict[TopicPartition, int] = {}
        for leader, topics in by_leader.items():
            request = OffsetRequest(-1, _READ_UNCOMMITTED, list(topics.items()))
            response = await client.send(leader, request)
            for topic, parts in response.topics:
                for partition, error_code, *found in parts:
                    error = kafka_errors.for_code(error_code)
                    if error is not kafka_errors.NoError:
                        raise error(f"ListOffsets of {topic}[{partition}]")
                    # v0 answers a list of offsets; later versions (timestamp, offset).
                    offset = found[0][0] if response.API_VERSION == 0 else found[-1]
                    ends[TopicPartition(topic, partition)] = int(offset)
        return ends
