"""Which offsets are safe to commit when records finish out of order: PartitionOffsets, OffsetTracker."""

from __future__ import annotations

from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from streams.runtime.offsets import OffsetTracker, PartitionOffsets

TP0 = TopicPartition("tasks", 0)
TP1 = TopicPartition("tasks", 1)


def test_nothing_started_commits_nothing() -> None:
    assert PartitionOffsets().committable() is None


def test_an_unfinished_offset_holds_back_the_commit() -> None:
    part = PartitionOffsets()
    for offset in (5, 6, 7):
        part.start(offset)
    assert part.committable() == 5  # the next offset to read after a restart is the unfinished one
    part.finish(6)
    part.finish(7)
    assert part.committable() == 5
    part.finish(5)
    assert part.committable() == 8


def test_an_offset_once_committed_is_not_offered_again() -> None:
    part = PartitionOffsets()
    part.start(0)
    part.finish(0)
    assert part.committable() == 1
    part.committed(1)
    assert part.committable() is None
    part.start(1)
    assert part.committable() is None  # still 1: nothing new is safe
    part.finish(1)
    assert part.committable() == 2


def test_an_older_commit_never_moves_the_committed_offset_back() -> None:
    part = PartitionOffsets()
    part.start(0)
    part.finish(0)
    part.committed(1)
    part.committed(0)
    assert part.committable() is None


@given(
    offsets=st.lists(st.integers(0, 200), min_size=1, max_size=40, unique=True).map(sorted),
    data=st.data(),
)
def test_the_commit_is_the_lowest_unfinished_offset_whatever_the_order_of_finishes(
    offsets: list[int], data: st.DataObject
) -> None:
    part = PartitionOffsets()
    for offset in offsets:
        part.start(offset)
    order = data.draw(st.permutations(offsets))
    stop_after = data.draw(st.integers(0, len(order)))
    finished = set(order[:stop_after])
    for offset in order[:stop_after]:
        part.finish(offset)
    unfinished = [o for o in offsets if o not in finished]
    assert part.committable() == (unfinished[0] if unfinished else offsets[-1] + 1)


def test_tracker_keeps_partitions_apart_and_forgets_revoked_ones() -> None:
    tracker = OffsetTracker()
    tracker.start(TP0, 10)
    tracker.start(TP1, 3)
    tracker.finish(TP1, 3)
    assert tracker.committable() == {TP0: 10, TP1: 4}
    tracker.committed({TP0: 10, TP1: 4})
    assert tracker.committable() == {}
    tracker.finish(TP0, 10)
    assert tracker.committable() == {TP0: 11}
    tracker.forget([TP0])
    assert tracker.committable() == {}
    tracker.finish(TP0, 11)  # a late finish of a revoked partition changes nothing
    tracker.committed({TP0: 12})
    assert tracker.committable() == {}
