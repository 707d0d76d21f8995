"""The transaction gate: leases keep a task's sends in one transaction; a commit waits them out."""

from __future__ import annotations

import asyncio

import pytest

from streams.runtime.transactions import TransactionFailedError, TransactionGate


def opened() -> TransactionGate:
    gate = TransactionGate()
    gate.open()
    return gate


async def settle() -> None:
    """Let every task that can run, run up to its next wait: turns of the loop, not wall-clock time,
    so what has not happened after it will not happen until something else does."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_send_during_a_commit_waits_for_the_next_transaction() -> None:
    gate = opened()
    await gate.close(timeout_s=1)
    entered = asyncio.Event()

    async def sender() -> None:
        await gate.enter()
        entered.set()

    job = asyncio.create_task(sender())
    await settle()  # the sender reaches the gate
    assert not entered.is_set(), "a send entered a transaction being committed"
    gate.open()
    async with asyncio.timeout(1):
        await entered.wait()
    await job


async def test_commit_waits_until_lease_holders_end_and_they_may_keep_sending() -> None:
    gate = opened()
    finish = asyncio.Event()
    sends = 0

    async def unit_of_work() -> None:  # like a profile followed by its completed marker
        nonlocal sends
        await gate.enter()
        sends += 1
        await finish.wait()
        await gate.enter()  # already a holder: never blocked by the pending commit
        sends += 1

    job = asyncio.create_task(unit_of_work())
    await asyncio.sleep(0)
    closing = asyncio.create_task(gate.close(timeout_s=5))
    await settle()  # the commit reaches its wait for the lease holder
    assert not closing.done(), "the commit did not wait for the lease holder"
    finish.set()
    async with asyncio.timeout(1):
        await closing
    await job
    assert sends == 2
    assert gate.holders == 0


async def test_leave_gives_the_loop_tasks_lease_back() -> None:
    gate = opened()
    await gate.enter()
    assert gate.holders == 1
    gate.leave()
    assert gate.holders == 0
    async with asyncio.timeout(1):
        await gate.close(timeout_s=1)


async def test_failure_wakes_waiting_senders_with_an_error() -> None:
    gate = opened()
    await gate.close(timeout_s=1)
    waiting = asyncio.create_task(gate.enter())
    await settle()  # the sender waits at the closed gate
    gate.fail(RuntimeError("EndTxn refused"))
    with pytest.raises(TransactionFailedError, match="EndTxn refused"):
        await waiting
    with pytest.raises(TransactionFailedError):
        await gate.enter()


async def test_commit_gives_up_on_a_lease_held_too_long() -> None:
    gate = opened()
    hold = asyncio.Event()

    async def stuck() -> None:
        await gate.enter()
        await hold.wait()

    job = asyncio.create_task(stuck())
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        await gate.close(timeout_s=0.05)
    hold.set()
    await job


async def test_used_tells_whether_anything_entered_since_the_last_open() -> None:
    gate = opened()
    assert not gate.used
    await gate.enter()
    assert gate.used
    gate.leave()
    await gate.close(timeout_s=1)
    gate.open()
    assert not gate.used
