"""PriorityGate: free slots are taken at once; when saturated, the highest priority goes first."""

from __future__ import annotations

import asyncio

import pytest

from streams.engine.adaptive.gate import PriorityGate


async def test_within_capacity_acquire_does_not_wait() -> None:
    gate = PriorityGate(2)
    assert await gate.acquire() == 0.0
    assert await gate.acquire() == 0.0
    assert gate.running == 2


async def test_saturated_gate_admits_by_priority_then_arrival() -> None:
    gate = PriorityGate(1)
    await gate.acquire()
    order: list[str] = []

    async def wait(name: str, priority: float) -> None:
        await gate.acquire(priority)
        order.append(name)

    jobs = [asyncio.create_task(wait(n, p)) for n, p in [("low", 1), ("high", 9), ("mid-a", 5), ("mid-b", 5)]]
    await asyncio.sleep(0)
    assert gate.waiting == 4
    for _ in jobs:
        gate.release()
        await asyncio.sleep(0)
    await asyncio.gather(*jobs)
    assert order == ["high", "mid-a", "mid-b", "low"]
    assert gate.running == 1


async def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    gate = PriorityGate(1)
    await gate.acquire()
    first = asyncio.create_task(gate.acquire(9))
    second = asyncio.create_task(gate.acquire(1))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    gate.release()
    await asyncio.wait_for(second, 1)
    assert gate.running == 1
    assert gate.waiting == 0


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        PriorityGate(0)
