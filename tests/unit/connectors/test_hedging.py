"""Hedged attempts: the budget's arithmetic and the race inside ``ResilientSource.call``."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from connectors import (
    AttemptEvent,
    BreakerState,
    CircuitBreaker,
    Connector,
    HedgeBudget,
    HedgePlan,
    ResilientSource,
    RetryPolicy,
    UpstreamUnavailable,
)

HANG = object()
"""A script step: the call waits until the test releases it (or it is cancelled)."""


class NoSettings(BaseModel):
    pass


class Legs(Connector[NoSettings]):
    """Answers call ``n`` (1-based) from ``script[n-1]``: a value, an exception, or ``HANG``."""

    name = "legs"
    settings_model = NoSettings
    request_model = NoSettings

    def __init__(self, script: list[Any]) -> None:
        super().__init__(source="legs", settings={})
        self.script = script
        self.calls = 0
        self.in_flight = 0
        self.cancelled: list[int] = []
        self._released: dict[int, asyncio.Future[Any]] = {}
        self._changed = asyncio.Condition()

    async def _start(self) -> None:
        pass

    async def _close(self) -> None:
        pass

    async def _fetch(self, request: Mapping[str, Any]) -> Any:
        self.calls += 1
        n = self.calls
        step = self.script[n - 1]
        if isinstance(step, BaseException):
            raise step
        if step is not HANG:
            return step
        await self._count(+1)
        try:
            return await self._future(n)
        except asyncio.CancelledError:
            self.cancelled.append(n)
            raise
        finally:
            await self._count(-1)

    def release(self, n: int, outcome: Any) -> None:
        """Let hung call ``n`` return ``outcome`` (or raise it, if it is an exception)."""
        future = self._future(n)
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def _future(self, n: int) -> asyncio.Future[Any]:
        return self._released.setdefault(n, asyncio.get_running_loop().create_future())

    async def _count(self, delta: int) -> None:
        async with self._changed:
            self.in_flight += delta
            self._changed.notify_all()

    async def wait_in_flight(self, count: int) -> None:
        async with asyncio.timeout(5), self._changed:
            await self._changed.wait_for(lambda: self.in_flight == count)


async def no_sleep(seconds: float) -> None:
    return None


async def make(script: list[Any], *, failure_threshold: int = 1) -> tuple[ResilientSource, Legs]:
    """A source whose breaker opens on one counted failure: a cancelled loser counted as one would show."""
    connector = Legs(script)
    await connector.start()
    breaker = CircuitBreaker(source="legs", failure_threshold=failure_threshold)
    return ResilientSource(connector=connector, breaker=breaker, sleep=no_sleep), connector


def story(events: list[AttemptEvent]) -> list[tuple[str, bool]]:
    return [(e.kind, e.hedge) for e in events]


ONCE = RetryPolicy(retries=0)


# The budget


def test_budget_starts_full_and_refuses_once_spent() -> None:
    budget = HedgeBudget(ratio=0.1, burst=2)
    assert budget.try_spend()
    assert budget.try_spend()
    assert not budget.try_spend()
    assert (budget.hedges, budget.refused) == (2, 1)


def test_budget_earns_ratio_per_attempt_up_to_burst() -> None:
    budget = HedgeBudget(ratio=0.25, burst=2)
    budget.try_spend()
    budget.try_spend()
    for _ in range(3):
        budget.earn()
    assert budget.tokens == pytest.approx(0.75)
    assert not budget.try_spend()
    budget.earn()
    assert budget.try_spend()
    for _ in range(100):
        budget.earn()
    assert budget.tokens == 2
    assert budget.attempts == 104


@given(
    ratio=st.floats(0.01, 1.0),
    burst=st.floats(1.0, 5.0),
    slow=st.lists(st.booleans(), max_size=300),
)
def test_hedges_never_exceed_burst_plus_ratio_of_attempts(
    ratio: float, burst: float, slow: list[bool]
) -> None:
    budget = HedgeBudget(ratio=ratio, burst=burst)
    for wants_hedge in slow:
        budget.earn()
        if wants_hedge:
            budget.try_spend()
    assert budget.hedges <= burst + ratio * len(slow) + 1e-9
    assert budget.hedges + budget.refused == sum(slow)


@pytest.mark.parametrize(("ratio", "burst"), [(0, 2), (1.5, 2), (0.05, 0.5)])
def test_budget_rejects_nonsense(ratio: float, burst: float) -> None:
    with pytest.raises(ValueError, match=r"ratio|burst"):
        HedgeBudget(ratio=ratio, burst=burst)


@pytest.mark.parametrize("after_ms", [0, -1, math.nan])
def test_plan_needs_a_positive_delay(after_ms: float) -> None:
    with pytest.raises(ValueError, match="after_ms"):
        HedgePlan(after_ms=after_ms, budget=HedgeBudget())


# The race


async def test_no_hedge_when_the_primary_answers_before_the_delay() -> None:
    source, connector = await make(["fast"])
    budget = HedgeBudget()
    events: list[AttemptEvent] = []
    outcome = await source.call(
        {},
        timeout_ms=1000,
        retry=ONCE,
        observer=events.append,
        hedge=HedgePlan(after_ms=10_000, budget=budget),
    )
    assert outcome.value == "fast"
    assert (outcome.attempts, outcome.hedges, outcome.hedged, outcome.hedge_won) == (1, 0, False, False)
    assert outcome.hedge_after_ms == 10_000
    assert story(events) == [("attempt_start", False), ("succeeded", False)]
    assert connector.calls == 1
    assert (budget.attempts, budget.hedges) == (1, 0)


async def test_slow_primary_is_hedged_and_cancelled_when_the_hedge_wins() -> None:
    source, connector = await make([HANG, "from the hedge"])
    events: list[AttemptEvent] = []
    outcome = await source.call(
        {},
        timeout_ms=5000,
        retry=ONCE,
        observer=events.append,
        hedge=HedgePlan(after_ms=5, budget=HedgeBudget()),
    )
    assert outcome.value == "from the hedge"
    assert (outcome.attempts, outcome.hedges, outcome.hedge_won) == (2, 1, True)
    assert story(events) == [
        ("attempt_start", False),
        ("hedge_started", False),
        ("attempt_start", True),
        ("succeeded", True),
        ("hedge_won", False),
    ]
    started, won = events[1], events[4]
    assert started.delay_ms is not None
    assert started.delay_ms >= 5
    assert won.reason == "cancelled"
    assert won.message == "the hedge answered first; the primary was cancelled"
    assert won.latency_ms is not None
    assert connector.cancelled == [1]
    assert source.in_flight == 0
    assert source.breaker.state is BreakerState.CLOSED
    assert source.breaker.consecutive_failures == 0


async def test_primary_answering_after_the_hedge_started_cancels_the_hedge() -> None:
    source, connector = await make([HANG, HANG])
    events: list[AttemptEvent] = []
    call = asyncio.create_task(
        source.call(
            {},
            timeout_ms=5000,
            retry=ONCE,
            observer=events.append,
            hedge=HedgePlan(after_ms=5, budget=HedgeBudget()),
        )
    )
    await connector.wait_in_flight(2)
    connector.release(1, "from the primary")
    outcome = await call
    assert outcome.value == "from the primary"
    assert (outcome.hedges, outcome.hedge_won) == (1, False)
    assert events[-1].kind == "hedge_lost"
    assert events[-1].reason == "cancelled"
    assert connector.cancelled == [2]
    assert source.breaker.state is BreakerState.CLOSED


async def test_spent_budget_refuses_the_hedge_and_says_so() -> None:
    source, connector = await make([HANG])
    budget = HedgeBudget(ratio=0.05, burst=1)
    budget.try_spend()
    events: list[AttemptEvent] = []

    def observe(event: AttemptEvent) -> None:
        events.append(event)
        if event.kind == "hedge_refused":
            connector.release(1, "from the primary")

    outcome = await source.call(
        {}, timeout_ms=5000, retry=ONCE, observer=observe, hedge=HedgePlan(after_ms=5, budget=budget)
    )
    assert outcome.value == "from the primary"
    assert (outcome.attempts, outcome.hedges, outcome.hedges_refused) == (1, 0, 1)
    assert story(events) == [("attempt_start", False), ("hedge_refused", False), ("succeeded", False)]
    assert events[1].reason == "budget"
    assert events[1].delay_ms is not None
    assert events[1].delay_ms >= 5
    assert connector.calls == 1
    assert budget.refused == 1


async def test_no_hedge_when_the_deadline_leaves_less_than_the_delay() -> None:
    source, connector = await make([HANG])
    budget = HedgeBudget()
    events: list[AttemptEvent] = []

    def observe(event: AttemptEvent) -> None:
        events.append(event)
        if event.kind == "hedge_refused":
            connector.release(1, "from the primary")

    outcome = await source.call(
        {},
        timeout_ms=5000,
        retry=ONCE,
        deadline=time.monotonic() + 0.5,
        observer=observe,
        hedge=HedgePlan(after_ms=300, budget=budget),
    )
    assert outcome.hedges_refused == 1
    assert events[1].reason == "deadline"
    assert budget.tokens == budget.burst, "a refusal for the deadline spends no budget"


async def test_a_failed_hedge_leaves_the_primary_to_answer() -> None:
    source, connector = await make([HANG, UpstreamUnavailable("503 on the hedge")], failure_threshold=5)
    events: list[AttemptEvent] = []

    def observe(event: AttemptEvent) -> None:
        events.append(event)
        if event.kind == "attempt_failed":
            connector.release(1, "from the primary")

    outcome = await source.call(
        {}, timeout_ms=5000, retry=ONCE, observer=observe, hedge=HedgePlan(after_ms=5, budget=HedgeBudget())
    )
    assert outcome.value == "from the primary"
    assert (outcome.attempts, outcome.hedge_won) == (2, False)
    assert ("attempt_failed", True) in story(events)
    assert events[-1].kind == "hedge_lost"
    assert events[-1].reason == "failed"


async def test_both_legs_failing_raise_the_later_error_and_the_try_is_retried() -> None:
    script = [HANG, UpstreamUnavailable("hedge failed first"), "third attempt"]
    source, connector = await make(script, failure_threshold=5)
    events: list[AttemptEvent] = []

    def observe(event: AttemptEvent) -> None:
        events.append(event)
        if event.kind == "attempt_failed" and event.hedge:
            connector.release(1, UpstreamUnavailable("primary failed later"))

    plan = HedgePlan(after_ms=5, budget=HedgeBudget())
    outcome = await source.call(
        {}, timeout_ms=5000, retry=RetryPolicy(retries=1), observer=observe, hedge=plan
    )
    assert outcome.value == "third attempt"
    assert outcome.attempts == 3
    failed = [e for e in events if e.kind == "attempt_failed"]
    assert [(e.message, e.attempt) for e in failed] == [
        ("source 'legs': hedge failed first", 1),
        ("source 'legs': primary failed later", 1),
    ]
    assert [e.kind for e in events][-3:] == ["retry_scheduled", "attempt_start", "succeeded"]

    source, connector = await make(script[:2], failure_threshold=5)
    with pytest.raises(UpstreamUnavailable, match="primary failed later") as caught:
        await source.call({}, timeout_ms=5000, retry=ONCE, observer=observe, hedge=plan)
    assert caught.value.attempts == 2


async def test_a_bug_in_one_leg_is_raised_at_once_and_the_other_cancelled() -> None:
    source, connector = await make([HANG, ZeroDivisionError("bug")])
    with pytest.raises(ZeroDivisionError):
        await source.call({}, timeout_ms=5000, retry=ONCE, hedge=HedgePlan(after_ms=5, budget=HedgeBudget()))
    assert connector.cancelled == [1]
    assert source.in_flight == 0


async def test_cancelling_the_call_cancels_both_legs_without_tripping_the_breaker() -> None:
    source, connector = await make([HANG, HANG])
    call = asyncio.create_task(
        source.call({}, timeout_ms=5000, retry=ONCE, hedge=HedgePlan(after_ms=5, budget=HedgeBudget()))
    )
    await connector.wait_in_flight(2)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert sorted(connector.cancelled) == [1, 2]
    assert source.in_flight == 0
    assert source.breaker.state is BreakerState.CLOSED


async def test_each_leg_takes_its_own_slot() -> None:
    connector = Legs([HANG, HANG])
    await connector.start()
    source = ResilientSource(connector=connector, breaker=CircuitBreaker(source="legs"), max_concurrency=2)
    call = asyncio.create_task(
        source.call({}, timeout_ms=5000, retry=ONCE, hedge=HedgePlan(after_ms=5, budget=HedgeBudget()))
    )
    await connector.wait_in_flight(2)
    assert source.in_flight == 2
    connector.release(2, "hedge")
    assert (await call).hedge_won
