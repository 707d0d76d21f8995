"""Timeouts, retries, the circuit breaker and the concurrency limit, against a real HTTP server."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from connectors import (
    AttemptEvent,
    BreakerState,
    CircuitOpen,
    FetchTimeout,
    NotFound,
    RateLimited,
    ResilientSource,
    RetryPolicy,
    UpstreamRejected,
    UpstreamUnavailable,
)
from connectors.http import HttpConnector
from tests.support.clock import ManualClock

pytestmark = pytest.mark.integration

FAST = RetryPolicy(retries=3, backoff_initial_ms=1, backoff_max_ms=5)


def state(source: ResilientSource) -> BreakerState:
    return source.breaker.state


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def source(upstream: Any, clock: ManualClock) -> AsyncIterator[ResilientSource]:
    settings: Mapping[str, Any] = {
        "base_url": upstream.base_url,
        "breaker": {"failure_threshold": 3, "reset_timeout_s": 5},
        "limits": {"max_concurrency": 5},
    }
    async with HttpConnector(source="crm", settings=settings) as connector:
        yield ResilientSource.from_settings(connector, settings, clock=clock)


async def test_success_takes_one_attempt(source: ResilientSource) -> None:
    outcome = await source.call({"path": "/ok"}, timeout_ms=2000, retry=FAST)
    assert outcome.value["ok"] is True
    assert outcome.attempts == 1
    assert outcome.latency_ms > 0


async def test_slow_upstream_times_out_per_attempt(source: ResilientSource, key: str) -> None:
    with pytest.raises(FetchTimeout, match="attempt timed out after 100 ms") as caught:
        await source.call(
            {"path": f"/slow/{key}", "params": {"ms": 1500}}, timeout_ms=100, retry=RetryPolicy(retries=0)
        )
    assert caught.value.attempts == 1


async def test_flaky_upstream_is_retried_until_success(
    source: ResilientSource, key: str, upstream: Any
) -> None:
    events: list[AttemptEvent] = []
    outcome = await source.call(
        {"path": f"/flaky/{key}", "params": {"fail": 2}}, timeout_ms=2000, retry=FAST, observer=events.append
    )
    assert outcome.attempts == 3
    assert outcome.value == {"calls": 3}
    assert upstream.hits[key] == 3
    assert [e.kind for e in events] == [
        "attempt_start",
        "attempt_failed",
        "retry_scheduled",
        "attempt_start",
        "attempt_failed",
        "retry_scheduled",
        "attempt_start",
        "succeeded",
    ]
    assert events[1].error_kind == "unavailable"


async def test_exhausted_retries_raise_last_error_with_attempts(
    source: ResilientSource, key: str, upstream: Any
) -> None:
    with pytest.raises(UpstreamUnavailable) as caught:
        await source.call(
            {"path": f"/flaky/{key}", "params": {"fail": 100}},
            timeout_ms=2000,
            retry=RetryPolicy(retries=2, backoff_initial_ms=1, backoff_max_ms=2),
        )
    assert caught.value.attempts == 3
    assert upstream.hits[key] == 3


@pytest.mark.parametrize(("code", "error"), [(404, NotFound), (400, UpstreamRejected)])
async def test_non_retriable_4xx_is_not_retried(
    source: ResilientSource, key: str, upstream: Any, code: int, error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        await source.call({"path": f"/status/{code}/{key}"}, timeout_ms=2000, retry=FAST)
    assert caught.value.attempts == 1  # type: ignore[attr-defined]
    assert upstream.hits[key] == 1


async def test_429_with_retry_after_is_retried(source: ResilientSource, key: str) -> None:
    outcome = await source.call(
        {"path": f"/ratelimited/{key}", "params": {"fail": 1, "retry_after": 0}}, timeout_ms=2000, retry=FAST
    )
    assert outcome.attempts == 2


async def test_429_asking_longer_than_max_backoff_is_not_retried(source: ResilientSource, key: str) -> None:
    with pytest.raises(RateLimited) as caught:
        await source.call(
            {"path": f"/ratelimited/{key}", "params": {"fail": 1, "retry_after": 30}},
            timeout_ms=2000,
            retry=FAST,
        )
    assert caught.value.attempts == 1
    assert caught.value.retry_after_s == 30.0


async def test_deadline_stops_retries_and_bounds_the_last_attempt(source: ResilientSource, key: str) -> None:
    with pytest.raises(FetchTimeout, match=r"attempt timed out after \d+ ms") as caught:
        await source.call(
            {"path": f"/slow/{key}", "params": {"ms": 1500}},
            timeout_ms=1000,
            retry=RetryPolicy(retries=5, backoff_initial_ms=1, backoff_max_ms=2),
            deadline=time.monotonic() + 0.25,
        )
    # The attempt's timeout was what was left of the deadline, not the 1000 ms configured.
    bounded = re.search(r"after (\d+) ms", str(caught.value))
    assert bounded is not None
    assert int(bounded.group(1)) <= 250, str(caught.value)
    assert caught.value.attempts == 1


async def test_breaker_opens_fails_fast_then_recovers_through_one_probe(
    source: ResilientSource, key: str, upstream: Any, clock: ManualClock
) -> None:
    request = {"path": f"/switch/{key}"}
    no_retry = RetryPolicy(retries=0)
    upstream.set_failing(key, True)
    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            await source.call(request, timeout_ms=2000, retry=no_retry)
    assert state(source) is BreakerState.OPEN

    events: list[AttemptEvent] = []
    for _ in range(5):
        with pytest.raises(CircuitOpen) as caught:
            await source.call(request, timeout_ms=2000, retry=FAST, observer=events.append)
        assert caught.value.attempts == 0
    assert upstream.hits[key] == 3, "an open breaker must not call the upstream"
    assert {e.kind for e in events} == {"breaker_rejected"}

    clock.now += 5.0  # reset timeout elapsed; the upstream is still down: the probe fails
    with pytest.raises(UpstreamUnavailable):
        await source.call(request, timeout_ms=2000, retry=no_retry)
    assert upstream.hits[key] == 4
    with pytest.raises(CircuitOpen):
        await source.call(request, timeout_ms=2000, retry=no_retry)
    assert upstream.hits[key] == 4

    upstream.set_failing(key, False)
    clock.now += 5.0
    outcome = await source.call(request, timeout_ms=2000, retry=no_retry)
    assert outcome.value == {"up": True}
    assert state(source) is BreakerState.CLOSED
    await source.call(request, timeout_ms=2000, retry=no_retry)
    assert upstream.hits[key] == 6


async def test_404s_do_not_open_the_breaker(source: ResilientSource, key: str) -> None:
    for _ in range(10):
        with pytest.raises(NotFound):
            await source.call({"path": f"/status/404/{key}"}, timeout_ms=2000, retry=FAST)
    assert state(source) is BreakerState.CLOSED


async def test_concurrency_limit_holds_under_50_concurrent_calls(
    source: ResilientSource, key: str, upstream: Any
) -> None:
    request = {"path": f"/gauge/{key}", "params": {"ms": 30}}
    outcomes = await asyncio.gather(*(source.call(request, timeout_ms=5000, retry=FAST) for _ in range(50)))
    assert all(o.value == {"ok": True} for o in outcomes)
    assert 1 < upstream.max_in_flight[key] <= 5
    assert source.in_flight == 0
