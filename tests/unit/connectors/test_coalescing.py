"""Coalescer: one call per key in flight, shared outcomes, cancellation that respects other waiters."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any

import pytest

from connectors.coalescing import Coalescer


class Gate:
    """A call the test releases by hand, counting how often it ran and whether it was cancelled."""

    def __init__(self, result: Any = "value") -> None:
        self.result = result
        self.calls = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()

    def call(self) -> Coroutine[Any, Any, Any]:
        self.calls += 1
        return self._run()

    async def _run(self) -> Any:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


async def test_concurrent_identical_calls_share_one() -> None:
    coalescer: Coalescer[Any] = Coalescer()
    gate = Gate({"id": 1})
    waiters = [asyncio.create_task(coalescer.run("k", gate.call)) for _ in range(20)]
    await gate.started.wait()
    gate.release.set()
    results = await asyncio.gather(*waiters)
    assert gate.calls == 1
    assert all(r.value == {"id": 1} for r in results)
    assert [r.shared for r in results].count(False) == 1  # one leader, 19 followers
    assert coalescer.in_flight == 0


async def test_finished_call_is_not_reused() -> None:
    coalescer: Coalescer[Any] = Coalescer()
    gate = Gate()
    gate.release.set()
    first = await coalescer.run("k", gate.call)
    second = await coalescer.run("k", gate.call)
    assert gate.calls == 2
    assert not first.shared
    assert not second.shared


async def test_different_keys_run_independently() -> None:
    coalescer: Coalescer[Any] = Coalescer()
    a, b = Gate("a"), Gate("b")
    task_a = asyncio.create_task(coalescer.run("a", a.call))
    task_b = asyncio.create_task(coalescer.run("b", b.call))
    await a.started.wait()
    await b.started.wait()
    assert coalescer.in_flight == 2
    b.release.set()
    assert (await task_b).value == "b"
    assert not task_a.done()
    a.release.set()
    assert (await task_a).value == "a"
    assert (a.calls, b.calls) == (1, 1)


async def test_cancelled_leader_cancels_its_call_and_one_follower_calls_again() -> None:
    coalescer: Coalescer[Any] = Coalescer()
    first, second = Gate("first"), Gate("second")
    leader = asyncio.create_task(coalescer.run("k", first.call))
    await first.started.wait()
    followers = [asyncio.create_task(coalescer.run("k", second.call)) for _ in range(3)]
    await asyncio.sleep(0)  # one turn of the loop: each follower runs up to its wait
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert first.cancelled.is_set()
    await second.started.wait()
    second.release.set()
    results = await asyncio.gather(*followers)
    assert [r.value for r in results] == ["second"] * 3
    assert [r.shared for r in results].count(False) == 1  # the new leader
    assert (first.calls, second.calls) == (1, 1)
    assert coalescer.in_flight == 0


async def test_cancelled_followers_leave_the_call_to_its_leader() -> None:
    coalescer: Coalescer[Any] = Coalescer()
    gate = Gate("ok")
    leader = asyncio.create_task(coalescer.run("k", gate.call))
    await gate.started.wait()
    followers = [asyncio.create_task(coalescer.run("k", gate.call)) for _ in range(2)]
    await asyncio.sleep(0)
    for follower in followers:
        follower.cancel()
    outcomes = await asyncio.gather(*followers, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert not gate.cancelled.is_set()
    gate.release.set()
    assert await leader == ("ok", False)
    assert gate.calls == 1
    assert coalescer.in_flight == 0


async def test_caller_joining_a_call_that_is_being_cancelled_starts_a_fresh_one() -> None:
    """A caller that comes while a cancelled leader's call winds down gets a call of its own."""
    coalescer: Coalescer[Any] = Coalescer()
    started, cancelling, wound_down = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow_to_cancel() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelling.set()
            await wound_down.wait()
            raise
        return "never"

    leader = asyncio.create_task(coalescer.run("k", slow_to_cancel))
    await started.wait()
    leader.cancel()
    await cancelling.wait()
    fresh = Gate("fresh")
    fresh.release.set()
    late = asyncio.create_task(coalescer.run("k", fresh.call))
    await asyncio.sleep(0)  # it joins the flight still registered
    assert fresh.calls == 0
    wound_down.set()
    with pytest.raises(asyncio.CancelledError):
        await leader
    result = await late
    assert result == ("fresh", False)
    assert fresh.calls == 1


async def test_error_reaches_every_waiter() -> None:
    coalescer: Coalescer[Any] = Coalescer()
    gate = Gate(LookupError("upstream said no"))
    waiters = [asyncio.create_task(coalescer.run("k", gate.call)) for _ in range(5)]
    await gate.started.wait()
    gate.release.set()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(o, LookupError) and str(o) == "upstream said no" for o in outcomes)
    assert gate.calls == 1
    assert coalescer.in_flight == 0


async def test_error_after_every_follower_left_is_not_reported_as_unretrieved() -> None:
    """A call that fails after its followers gave up must not log 'exception was never retrieved'."""
    coalescer: Coalescer[Any] = Coalescer()
    reported: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: reported.append(context))
    gate = Gate(RuntimeError("upstream failed"))
    leader = asyncio.create_task(coalescer.run("k", gate.call))
    await gate.started.wait()
    follower = asyncio.create_task(coalescer.run("k", gate.call))
    await asyncio.sleep(0)
    follower.cancel()
    with pytest.raises(asyncio.CancelledError):
        await follower
    gate.release.set()
    with pytest.raises(RuntimeError, match="upstream failed"):
        await leader
    assert coalescer.in_flight == 0
    del leader, follower
    gc.collect()  # an unread exception is reported when its future is collected
    await asyncio.sleep(0)
    assert reported == []
