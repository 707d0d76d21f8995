"""CircuitBreaker state transitions, driven by an injected clock (no sleeps)."""

import pytest

from connectors import BreakerState, CircuitBreaker, CircuitOpen
from connectors.breaker import Outcome
from tests.support.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(100.0)


@pytest.fixture
def breaker(clock: ManualClock) -> CircuitBreaker:
    return CircuitBreaker(source="crm", failure_threshold=3, reset_timeout_s=5, clock=clock)


def state(breaker: CircuitBreaker) -> BreakerState:
    """Read afresh: the type checker would keep a narrowed ``breaker.state``."""
    return breaker.state


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.record(breaker.acquire(), Outcome.FAILURE)


def test_opens_after_threshold_consecutive_failures(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    assert state(breaker) is BreakerState.CLOSED
    fail(breaker)
    assert state(breaker) is BreakerState.OPEN
    with pytest.raises(CircuitOpen, match=r"next probe in 5\.00 s") as caught:
        breaker.acquire()
    assert caught.value.retry_in_s == 5.0
    assert caught.value.source == "crm"


def test_a_success_resets_the_consecutive_count(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    breaker.record(breaker.acquire(), Outcome.SUCCESS)
    fail(breaker, 2)
    assert state(breaker) is BreakerState.CLOSED


def test_ignored_outcomes_neither_count_nor_reset(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    breaker.record(breaker.acquire(), Outcome.IGNORED)
    fail(breaker)
    assert state(breaker) is BreakerState.OPEN


def test_stays_open_until_reset_timeout(breaker: CircuitBreaker, clock: ManualClock) -> None:
    fail(breaker, 3)
    clock.now += 4.99
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    clock.now += 0.01
    assert state(breaker) is BreakerState.HALF_OPEN


def test_half_open_admits_one_probe_and_its_success_closes(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    fail(breaker, 3)
    clock.now += 5
    probe = breaker.acquire()
    assert probe.probe
    with pytest.raises(CircuitOpen, match="probe is in flight"):
        breaker.acquire()
    breaker.record(probe, Outcome.SUCCESS)
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0
    assert not breaker.acquire().probe


def test_failed_probe_reopens_for_a_full_timeout(breaker: CircuitBreaker, clock: ManualClock) -> None:
    fail(breaker, 3)
    clock.now += 5
    breaker.record(breaker.acquire(), Outcome.FAILURE)
    assert state(breaker) is BreakerState.OPEN
    clock.now += 4.9
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    clock.now += 0.1
    assert breaker.acquire().probe


def test_ignored_probe_lets_the_next_call_probe(breaker: CircuitBreaker, clock: ManualClock) -> None:
    fail(breaker, 3)
    clock.now += 5
    breaker.record(breaker.acquire(), Outcome.IGNORED)
    assert state(breaker) is BreakerState.HALF_OPEN
    assert breaker.acquire().probe


def test_late_results_from_before_a_state_change_are_ignored(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    slow = breaker.acquire()  # admitted while closed, finishes after the breaker opened
    fail(breaker, 3)
    breaker.record(slow, Outcome.SUCCESS)
    assert state(breaker) is BreakerState.OPEN
    clock.now += 5
    probe = breaker.acquire()
    breaker.record(slow, Outcome.FAILURE)
    assert state(breaker) is BreakerState.HALF_OPEN
    breaker.record(probe, Outcome.SUCCESS)
    assert state(breaker) is BreakerState.CLOSED


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(source="s", failure_threshold=0)
