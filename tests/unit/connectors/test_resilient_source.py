"""ResilientSource with an in-process connector: retries, deadlines, breaker, limits and events."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import BaseModel

from connectors import (
    AttemptEvent,
    BreakerState,
    CircuitOpen,
    Connector,
    FetchError,
    FetchTimeout,
    InvalidRequest,
    LoadShed,
    NotFound,
    RateLimited,
    ResilientSource,
    RetryPolicy,
    SourceConfigError,
    UpstreamUnavailable,
)
from tests.support.clock import ManualClock


class ScriptSettings(BaseModel):
    pass


class ScriptRequest(BaseModel):
    pass


class ScriptedConnector(Connector[ScriptSettings]):
    """Answers from a script: each entry is a value, an error to raise, or a delay in seconds."""

    name = "scripted"
    settings_model = ScriptSettings
    request_model = ScriptRequest

    def __init__(self, script: list[Any]) -> None:
        super().__init__(source="scripted", settings={})
        self.script = script
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.release = asyncio.Event()
        self.changed = asyncio.Condition()

    async def _start(self) -> None:
        pass

    async def _close(self) -> None:
        pass

    async def _fetch(self, request: Mapping[str, Any]) -> Any:
        self.calls += 1
        step = self.script[min(self.calls, len(self.script)) - 1]
        await self._set_in_flight(+1)
        try:
            if step == "wait":
                await self.release.wait()
                return "released"
            if isinstance(step, float):
                await asyncio.sleep(step)
                return "late"
            if isinstance(step, BaseException):
                raise step
            return step
        finally:
            await self._set_in_flight(-1)

    async def _set_in_flight(self, delta: int) -> None:
        async with self.changed:
            self.in_flight += delta
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.changed.notify_all()

    async def wait_in_flight(self, count: int) -> None:
        """Wait (at most 5 s) until ``count`` fetches are in progress."""
        async with asyncio.timeout(5), self.changed:
            await self.changed.wait_for(lambda: self.in_flight >= count)


class Sleeps:
    """Records backoff waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


async def make(
    script: list[Any], sleeps: Sleeps, settings: Mapping[str, Any] | None = None, **kw: Any
) -> ResilientSource:
    connector = ScriptedConnector(script)
    await connector.start()
    return ResilientSource.from_settings(connector, settings or {}, sleep=sleeps, **kw)


NO_JITTER = RetryPolicy(retries=3, backoff_initial_ms=10, backoff_max_ms=1000, jitter=False)


async def test_retriable_errors_are_retried_with_exponential_waits(sleeps: Sleeps) -> None:
    source = await make([UpstreamUnavailable("503"), FetchTimeout("t"), {"ok": 1}], sleeps)
    outcome = await source.call({}, timeout_ms=1000, retry=NO_JITTER)
    assert outcome.value == {"ok": 1}
    assert outcome.attempts == 3
    assert sleeps.waits == [0.01, 0.02]


async def test_exhausted_retries_raise_the_last_error_with_attempts(sleeps: Sleeps) -> None:
    source = await make([UpstreamUnavailable("first"), UpstreamUnavailable("last")], sleeps)
    with pytest.raises(UpstreamUnavailable, match="last") as caught:
        await source.call({}, timeout_ms=1000, retry=NO_JITTER)
    assert caught.value.attempts == 4


async def test_non_retriable_error_is_raised_after_one_attempt(sleeps: Sleeps) -> None:
    source = await make([NotFound("404")], sleeps)
    with pytest.raises(NotFound) as caught:
        await source.call({}, timeout_ms=1000, retry=NO_JITTER)
    assert caught.value.attempts == 1
    assert sleeps.waits == []


async def test_a_bug_in_a_connector_propagates_unchanged(sleeps: Sleeps) -> None:
    source = await make([ZeroDivisionError("bug")], sleeps)
    with pytest.raises(ZeroDivisionError):
        await source.call({}, timeout_ms=1000, retry=NO_JITTER)
    assert source.breaker.consecutive_failures == 0


async def test_retry_after_sets_the_wait(sleeps: Sleeps) -> None:
    source = await make([RateLimited("429", retry_after_s=0.5), "ok"], sleeps)
    await source.call({}, timeout_ms=1000, retry=NO_JITTER)
    assert sleeps.waits == [0.5]


async def test_attempt_timeout_becomes_fetch_timeout() -> None:
    connector = ScriptedConnector(["wait"])
    source = ResilientSource.from_settings(connector, {})
    await connector.start()
    with pytest.raises(FetchTimeout, match="timed out after 20 ms") as caught:
        await source.call({}, timeout_ms=20, retry=RetryPolicy(retries=0))
    assert caught.value.attempts == 1
    assert connector.in_flight == 0, "the timed-out attempt must be cancelled"


async def test_deadline_stops_retrying_when_the_next_wait_would_pass_it(sleeps: Sleeps) -> None:
    # The waits are recorded, not slept, but the deadline is on the real clock: in seconds, so that
    # the first wait fits with 20 s to spare however slowly the attempts run, and the second (80 s)
    # cannot fit in the 60 s.
    source = await make([UpstreamUnavailable("503")], sleeps)
    policy = RetryPolicy(retries=5, backoff_initial_ms=40_000, backoff_max_ms=100_000, jitter=False)
    with pytest.raises(UpstreamUnavailable) as caught:
        await source.call({}, timeout_ms=1000, retry=policy, deadline=time.monotonic() + 60)
    assert caught.value.attempts == 2  # a wait of 40 s fits, then 80 s would pass the deadline
    assert sleeps.waits == [40.0]


async def test_deadline_bounds_the_attempt() -> None:
    connector = ScriptedConnector(["wait"])
    await connector.start()
    source = ResilientSource.from_settings(connector, {})
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        await source.call({}, timeout_ms=10_000, retry=RetryPolicy(retries=0), deadline=started + 0.05)
    assert time.monotonic() - started < 1.0


async def test_passed_deadline_makes_no_attempt(sleeps: Sleeps) -> None:
    source = await make(["ok"], sleeps)
    with pytest.raises(FetchTimeout, match="deadline") as caught:
        await source.call({}, timeout_ms=1000, retry=NO_JITTER, deadline=time.monotonic() - 1)
    assert caught.value.attempts == 0
    assert isinstance(source.connector, ScriptedConnector)
    assert source.connector.calls == 0


async def test_events_tell_the_story_of_a_call(sleeps: Sleeps) -> None:
    source = await make([UpstreamUnavailable("503"), "ok"], sleeps)
    events: list[AttemptEvent] = []
    await source.call({}, timeout_ms=1000, retry=NO_JITTER, observer=events.append)
    assert [(e.kind, e.attempt) for e in events] == [
        ("attempt_start", 1),
        ("attempt_failed", 1),
        ("retry_scheduled", 1),
        ("attempt_start", 2),
        ("succeeded", 2),
    ]
    failed, scheduled, succeeded = events[1], events[2], events[4]
    assert failed.error_kind == "unavailable"
    assert failed.message == "source 'scripted': 503"
    assert failed.latency_ms is not None
    assert scheduled.delay_ms == pytest.approx(10.0)
    assert succeeded.latency_ms is not None


async def test_breaker_opens_and_rejects_without_calling(sleeps: Sleeps) -> None:
    clock = ManualClock(0.0)
    source = await make(
        [UpstreamUnavailable("503")],
        sleeps,
        {"breaker": {"failure_threshold": 2, "reset_timeout_s": 1}},
        clock=clock,
    )
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable):
            await source.call({}, timeout_ms=1000, retry=RetryPolicy(retries=0))
    events: list[AttemptEvent] = []
    with pytest.raises(CircuitOpen) as caught:
        await source.call({}, timeout_ms=1000, retry=NO_JITTER, observer=events.append)
    assert caught.value.attempts == 0
    assert [e.kind for e in events] == ["breaker_rejected"]
    assert events[0].error_kind == "circuit_open"
    assert isinstance(source.connector, ScriptedConnector)
    assert source.connector.calls == 2
    assert source.breaker.state is BreakerState.OPEN


async def test_retries_stop_once_the_breaker_opens(sleeps: Sleeps) -> None:
    source = await make([UpstreamUnavailable("503")], sleeps, {"breaker": {"failure_threshold": 2}})
    with pytest.raises(CircuitOpen) as caught:
        await source.call({}, timeout_ms=1000, retry=NO_JITTER)
    assert caught.value.attempts == 2


async def test_invalid_requests_do_not_count_against_the_source(sleeps: Sleeps) -> None:
    source = await make([InvalidRequest("bad")], sleeps, {"breaker": {"failure_threshold": 1}})
    for _ in range(3):
        with pytest.raises(InvalidRequest):
            await source.call({}, timeout_ms=1000, retry=NO_JITTER)
    assert source.breaker.state is BreakerState.CLOSED


async def test_concurrency_limit_bounds_attempts_in_flight() -> None:
    connector = ScriptedConnector(["wait"])
    await connector.start()
    source = ResilientSource.from_settings(connector, {"limits": {"max_concurrency": 3}})
    calls = [
        asyncio.create_task(source.call({}, timeout_ms=5000, retry=RetryPolicy(retries=0))) for _ in range(20)
    ]
    await connector.wait_in_flight(3)
    assert source.in_flight == 3
    connector.release.set()
    results = await asyncio.gather(*calls)
    assert {r.value for r in results} == {"released"}
    assert connector.max_in_flight == 3
    assert source.in_flight == 0


async def test_a_fixed_limit_bounds_the_queue_wait_by_the_deadline() -> None:
    connector = ScriptedConnector(["wait"])
    await connector.start()
    source = ResilientSource.from_settings(connector, {"limits": {"max_concurrency": 1, "adaptive": False}})
    assert source.admission is None
    holder = asyncio.create_task(source.call({}, timeout_ms=5000, retry=RetryPolicy(retries=0)))
    await connector.wait_in_flight(1)
    with pytest.raises(FetchTimeout, match="free slot") as caught:
        await source.call({}, timeout_ms=5000, retry=RetryPolicy(retries=0), deadline=time.monotonic() + 0.05)
    assert caught.value.attempts == 0
    connector.release.set()
    await holder


async def test_an_adaptive_limit_sheds_a_waiter_whose_deadline_passes_without_counting_it() -> None:
    connector = ScriptedConnector(["wait"])
    await connector.start()
    source = ResilientSource.from_settings(
        connector, {"limits": {"max_concurrency": 1}, "breaker": {"failure_threshold": 1}}
    )
    holder = asyncio.create_task(source.call({}, timeout_ms=5000, retry=RetryPolicy(retries=0)))
    await connector.wait_in_flight(1)
    events: list[AttemptEvent] = []
    deadline = time.monotonic() + 0.05
    with pytest.raises(LoadShed, match="shed after waiting") as caught:
        await source.call({}, timeout_ms=5000, retry=NO_JITTER, deadline=deadline, observer=events.append)
    assert caught.value.attempts == 0, "shed before any attempt, and not retried"
    assert caught.value.kind == "shed"
    assert not caught.value.retriable
    assert [e.kind for e in events] == ["shed"]
    assert events[0].message == str(caught.value)
    assert source.breaker.state is BreakerState.CLOSED
    assert connector.calls == 1
    connector.release.set()
    await holder


async def hanging_round(adaptive: bool) -> ResilientSource:
    """Four attempts at once on a source that never answers, each timing out after 20 ms."""
    connector = ScriptedConnector(["wait"])
    await connector.start()
    limits = {"max_concurrency": 4, "initial_limit": 4, "adaptive": adaptive}
    source = ResilientSource.from_settings(connector, {"limits": limits, "breaker": {"failure_threshold": 3}})
    calls = [source.call({}, timeout_ms=20, retry=RetryPolicy(retries=0)) for _ in range(4)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, FetchTimeout) for r in results)
    return source


async def test_timeouts_of_attempts_admitted_before_a_cut_do_not_open_the_breaker() -> None:
    fixed = await hanging_round(adaptive=False)
    assert fixed.breaker.state is BreakerState.OPEN, "four timeouts in a row open it at a fixed limit"

    adaptive = await hanging_round(adaptive=True)
    # The 1st attempt (1 of 4 in flight: the source not busy) and the 2nd (busy: it cuts the limit)
    # count; the 3rd and 4th were admitted under the limit just cut: graphfetch's overload.
    assert adaptive.limit == 3
    assert adaptive.breaker.consecutive_failures == 2
    assert adaptive.breaker.state is BreakerState.CLOSED


async def test_a_change_of_the_limit_is_an_event_in_words() -> None:
    connector = ScriptedConnector(["wait"])
    await connector.start()
    source = ResilientSource.from_settings(connector, {"limits": {"max_concurrency": 2}})
    events: list[AttemptEvent] = []
    calls = [
        source.call({}, timeout_ms=20, retry=RetryPolicy(retries=0), observer=events.append) for _ in range(2)
    ]
    await asyncio.gather(*calls, return_exceptions=True)
    changes = [e.message or "" for e in events if e.kind == "limit_changed"]
    assert len(changes) == 1
    assert re.fullmatch(
        r"concurrency limit of scripted lowered 2 -> 1: an attempt timed out after \d+ ms", changes[0]
    )
    assert source.limit == 1


@pytest.mark.parametrize("adaptive", [True, False])
async def test_a_timeout_cut_short_by_the_deadline_counts_neither_for_the_breaker_nor_the_limit(
    adaptive: bool,
) -> None:
    connector = ScriptedConnector(["wait"])
    await connector.start()
    source = ResilientSource.from_settings(
        connector,
        {"limits": {"max_concurrency": 1, "adaptive": adaptive}, "breaker": {"failure_threshold": 1}},
    )
    with pytest.raises(FetchTimeout):
        await source.call(
            {}, timeout_ms=5_000, retry=RetryPolicy(retries=0), deadline=time.monotonic() + 0.02
        )
    assert source.breaker.state is BreakerState.CLOSED, "the request ran out of time, not the source"
    assert source.limit == 1
    if source.admission is not None:
        assert source.admission.limit.epoch == 0


async def test_limit_settings_default_to_adaptive_from_four_up_to_the_ceiling() -> None:
    source = ResilientSource.from_settings(ScriptedConnector([]), {})
    assert source.admission is not None
    assert (source.limit, source.max_concurrency) == (4, 32)
    assert (source.admission.limit.tolerance, source.admission.limit.backoff_ratio) == (1.5, 0.9)
    small = ResilientSource.from_settings(ScriptedConnector([]), {"limits": {"max_concurrency": 3}})
    assert small.limit == 3
    tuned = ResilientSource.from_settings(
        ScriptedConnector([]),
        {"limits": {"initial_limit": 10, "tolerance": 2, "backoff_ratio": 0.5}},
    )
    assert tuned.admission is not None
    assert (tuned.limit, tuned.admission.limit.tolerance, tuned.admission.limit.backoff_ratio) == (10, 2, 0.5)
    fixed = ResilientSource.from_settings(ScriptedConnector([]), {"limits": {"adaptive": False}})
    assert (fixed.admission, fixed.limit) == (None, 32)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"breaker": {"failure_threshold": 0}}, "breaker.failure_threshold"),
        ({"breaker": {"reset_timeout_s": -1}}, "breaker.reset_timeout_s"),
        ({"breaker": {"typo": 1}}, "breaker.typo"),
        ({"limits": {"max_concurrency": 0}}, "limits.max_concurrency"),
        ({"limits": {"max_concurrency": 4, "initial_limit": 5}}, "initial_limit .5. cannot be more than"),
        ({"limits": {"tolerance": 1}}, "limits.tolerance"),
        ({"limits": {"backoff_ratio": 1}}, "limits.backoff_ratio"),
    ],
)
async def test_bad_breaker_or_limit_settings_name_source_and_field(
    settings: dict[str, Any], field: str
) -> None:
    with pytest.raises(SourceConfigError, match=field) as caught:
        ResilientSource.from_settings(ScriptedConnector([]), settings)
    assert "scripted" in str(caught.value)


async def test_defaults_without_generic_settings() -> None:
    source = ResilientSource.from_settings(ScriptedConnector([]), {"base_url": "ignored here"})
    assert source.max_concurrency == 32
    assert source.breaker.failure_threshold == 5
    assert source.breaker.reset_timeout_s == 5.0


def test_fetch_error_is_the_root_of_raised_errors() -> None:
    assert issubclass(CircuitOpen, FetchError)
