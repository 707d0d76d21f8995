"""Workers and consumer groups: the members of each role's group, their partitions and the lag.

Read with Kafka's admin API (DescribeGroups, OffsetFetch) and the end offsets
of the partitions the groups committed; a worker is a member of the group of
each role it runs (``<GRAPHFETCH_GROUP_PREFIX>.<role>``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError

from streams.runtime.worker import ROLES
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Member:
    member_id: str
    client_id: str
    host: str
    partitions: tuple[str, ...]
    """``topic[partition]`` of each assigned partition."""


@dataclass(frozen=True, kw_only=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    end: int | None

    @property
    def lag(self) -> int | None:
        if self.end is None:
            return None
        return self.end - (self.committed or 0)


@dataclass(kw_only=True)
class GroupView:
    role: str
    group_id: str
    state: str
    members: list[Member] = field(default_factory=list)
    partitions: list[PartitionLag] = field(default_factory=list)
    problem: str | None = None

    @property
    def total_lag(self) -> int:
        return sum(p.lag or 0 for p in self.partitions)


def _assigned(raw: bytes) -> tuple[str, ...]:
    if not raw:
        return ()
    try:
        assignment = ConsumerProtocolMemberAssignment.decode(raw)
    except (ValueError, KeyError, IndexError):
        return ("(unreadable assignment)",)
    return tuple(sorted(f"{tp.topic}[{tp.partition}]" for tp in assignment.partitions()))


class GroupInspector:
    """An admin client and a group-less consumer (for end offsets), opened once, closed by :meth:`close`."""

    def __init__(self, settings: Settings, roles: Sequence[str] = ROLES) -> None:
        self._settings = settings
        self._roles = roles
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        options = self._settings.kafka_client_options()
        admin = AIOKafkaAdminClient(**options)
        await admin.start()
        self._admin = admin
        offsets = AIOKafkaConsumer(**options, enable_auto_commit=False)
        await offsets.start()
        self._offsets = offsets

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        offsets, self._offsets = self._offsets, None
        if offsets is not None:
            await offsets.stop()
        if admin is not None:
            await admin.close()

    async def groups(self) -> list[GroupView]:
        """Each role's group; a group the broker cannot describe carries its problem."""
        return list(await asyncio.gather(*(self._describe_or_say(role) for role in self._roles)))

    async def _describe_or_say(self, role: str) -> GroupView:
        group_id = f"{self._settings.group_prefix}.{role}"
        try:
            return await self._describe(role, group_id)
        except KafkaError as exc:
            return GroupView(role=role, group_id=group_id, state="unknown", problem=repr(exc))

    async def _describe(self, role: str, group_id: str) -> GroupView:
        admin, offsets = self._admin, self._offsets
        if admin is None or offsets is None:
            raise RuntimeError("GroupInspector is not started. Call start() first.")
        [response] = await admin.describe_consumer_groups([group_id])
        [described] = response.to_object()["groups"]
        view = GroupView(role=role, group_id=group_id, state=described["state"] or "Empty")
        for member in described["members"]:
            view.members.append(
                Member(
                    member_id=member["member_id"],
                    client_id=member["client_id"],
                    host=member["client_host"].lstrip("/"),
                    partitions=_assigned(member["member_assignment"]),
                )
            )
        committed = await admin.list_consumer_group_offsets(group_id)
        tps = sorted(committed, key=lambda tp: (tp.topic, tp.partition))
        ends: dict[TopicPartition, int] = await offsets.end_offsets(tps) if tps else {}
        for tp in tps:
            offset = committed[tp].offset
            view.partitions.append(
                PartitionLag(
                    topic=tp.topic,
                    partition=tp.partition,
                    committed=offset if offset >= 0 else None,
                    end=ends.get(tp),
                )
            )
        return view
