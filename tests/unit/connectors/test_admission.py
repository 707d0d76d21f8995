"""Admission to an adaptive limit: the free-slot fast path, earliest deadline first, shedding."""

from __future__ import annotations

import asyncio
import functools
import time

import pytest

from connectors import LoadShed
from connectors.admission import Admission
from connectors.limiter import AdaptiveLimit
from tests.support.clock import ManualClock


def admission(
    limit: int = 2, *, expected_ms: float | None = None, clock: ManualClock | None = None
) -> Admission:
    lim = AdaptiveLimit(ceiling=limit, initial=limit)
    lim.expected_ms = expected_ms
    return Admission(lim, source="crm", clock=clock or ManualClock())


async def queued(gate: Admission, deadline: float | None, count: int) -> asyncio.Task[tuple[int, bool]]:
    """A task waiting for a slot, once it is in the queue (``count`` waiters then)."""
    task = asyncio.create_task(gate.acquire(deadline))
    await asyncio.sleep(0)  # one step: the task runs until it awaits its turn
    assert gate.waiting == count
    return task


async def test_a_free_slot_is_taken_at_once_and_a_full_limit_says_so() -> None:
    gate = admission(4)
    assert gate.try_acquire() == (0, False)  # 1 of 4 in flight: the source is not busy
    assert gate.try_acquire() == (0, True)  # half the limit: busy
    assert gate.try_acquire() is not None
    assert gate.try_acquire() is not None
    assert gate.try_acquire() is None
    assert gate.in_flight == 4
    gate.release()
    assert gate.in_flight == 3


async def test_waiters_get_slots_earliest_deadline_first_without_deadline_last_fifo_among_equals() -> None:
    clock = ManualClock()
    gate = admission(1, clock=clock)
    assert gate.try_acquire() is not None
    order: list[str] = []

    def served(name: str, _: object) -> None:
        order.append(name)

    arrivals = [
        ("none-1", None),
        ("late", 1_050.0),
        ("none-2", None),
        ("early", 1_010.0),
        ("late-2", 1_050.0),
    ]
    tasks = []
    for count, (name, deadline) in enumerate(arrivals, start=1):
        task = await queued(gate, deadline, count)
        task.add_done_callback(functools.partial(served, name))
        tasks.append(task)
    for _ in arrivals:
        gate.release()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == ["early", "late", "late-2", "none-1", "none-2"]
    assert gate.waiting == 0


async def test_a_waiter_that_cannot_make_its_deadline_is_shed_on_arrival() -> None:
    clock = ManualClock()
    gate = admission(1, expected_ms=50.0, clock=clock)
    gate.try_acquire()
    with pytest.raises(LoadShed) as caught:
        await gate.acquire(clock.now + 0.030)  # 30 ms left, the source answers in 50
    assert caught.value.kind == "shed"
    assert caught.value.left_ms == pytest.approx(30.0)
    assert caught.value.expected_ms == 50.0
    assert "30 ms left before the deadline, less than the 50 ms the source takes now" in str(caught.value)
    assert gate.shed == 1
    assert gate.waiting == 0


async def test_a_waiter_whose_deadline_went_out_of_reach_is_shed_when_a_slot_frees_and_the_next_served() -> (
    None
):
    clock = ManualClock()
    gate = admission(1, expected_ms=50.0, clock=clock)
    gate.try_acquire()
    hopeless = await queued(gate, clock.now + 0.100, 1)
    hopeful = await queued(gate, clock.now + 1.000, 2)
    clock.now += 0.060  # 40 ms left for the first: less than 50
    gate.release()
    with pytest.raises(LoadShed, match="waiting 60 ms"):
        await hopeless
    assert await hopeful == (0, True)
    assert gate.in_flight == 1
    assert gate.waiting == 0


async def test_a_waiter_is_shed_by_its_own_timer_before_its_deadline() -> None:
    lim = AdaptiveLimit(ceiling=1, initial=1)
    lim.expected_ms = 20.0
    gate = Admission(lim, source="crm")  # the real clock: the timer must fire by itself
    gate.try_acquire()
    deadline = time.monotonic() + 0.050
    with pytest.raises(LoadShed):
        await gate.acquire(deadline)
    assert gate.waiting == 0
    assert gate.in_flight == 1


async def test_without_a_measured_latency_a_waiter_is_shed_at_its_deadline() -> None:
    gate = Admission(AdaptiveLimit(ceiling=1, initial=1), source="crm")
    gate.try_acquire()
    with pytest.raises(LoadShed, match="the deadline passed"):
        await gate.acquire(time.monotonic() + 0.010)


async def test_a_cancelled_waiter_leaves_the_queue_and_a_slot_handed_to_it_passes_on() -> None:
    gate = admission(1)
    gate.try_acquire()
    gone = await queued(gate, None, 1)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert gate.waiting == 0
    assert gate.try_acquire() is None  # the limit is still full

    granted_then_cancelled = await queued(gate, None, 1)
    next_in_line = await queued(gate, None, 2)
    gate.release()  # the slot goes to the first waiter...
    granted_then_cancelled.cancel()  # ...cancelled before it could run
    with pytest.raises(asyncio.CancelledError):
        await granted_then_cancelled
    assert await next_in_line == (0, True)
    assert gate.in_flight == 1


async def test_a_slot_freed_between_a_waiters_cancellation_and_its_unwinding_goes_to_the_next() -> None:
    gate = admission(1)
    gate.try_acquire()
    cancelled = await queued(gate, None, 1)
    next_in_line = await queued(gate, None, 2)
    cancelled.cancel()  # its future is cancelled now, its task runs its handler later
    gate.release()
    assert await next_in_line == (0, True)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert (gate.in_flight, gate.waiting) == (1, 0)


async def test_a_waiter_cancelled_before_its_timer_fires_is_not_shed() -> None:
    # The admission's clock is the test's, so the waiter is queued (not shed on arrival) however late
    # its task first runs. Its timer is the loop's: armed for 10 ms, it comes due while the cancelled
    # task unwinds, or after, with the clock moved past the deadline, when a waiter still queued
    # would be shed.
    clock = ManualClock()
    gate = admission(1, clock=clock)
    gate.try_acquire()
    task = await queued(gate, clock.now + 0.010, 1)
    task.cancel()
    clock.now += 1.0
    await asyncio.sleep(0.05)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (gate.shed, gate.waiting) == (0, 0)


async def test_only_a_drop_of_a_busy_attempt_cuts_and_a_cut_makes_earlier_tickets_stale() -> None:
    gate = admission(4)
    quiet = gate.try_acquire()
    assert quiet == (0, False)
    assert gate.record(quiet, 300.0, drop="timeout") is None, "the source was not busy: not our overload"
    busy = gate.try_acquire()
    assert busy == (0, True)
    cut = gate.record(busy, 300.0, drop="timeout")
    assert cut is not None
    assert (cut.old, cut.new) == (4, 3)
    assert gate.stale(quiet)
    assert gate.stale(busy)
    assert not gate.stale((gate.limit.epoch, False))
