"""The adaptive concurrency limit on its own: samples in, limit out, no clock but the test's."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.limiter import WINDOW_SAMPLES, AdaptiveLimit, LimitChange


def limit(**kw: float) -> AdaptiveLimit:
    settings: dict[str, float] = {"ceiling": 32, "initial": 8, **kw}
    return AdaptiveLimit(**settings)  # type: ignore[arg-type]


def window(lim: AdaptiveLimit, latency_ms: float, *, busy: bool = True) -> LimitChange | None:
    """One full window of samples at ``latency_ms``, all admitted in the current epoch."""
    change = None
    for _ in range(lim.window):
        change = lim.sample(latency_ms, epoch=lim.epoch, busy=busy) or change
    return change


@dataclass
class SaturatedServer:
    """A server that serves ``capacity`` calls at full speed (``service_ms`` each); a call arriving
    while n > capacity are in flight (itself included) takes n / capacity times longer, as the demo
    upstreams' ``capacity`` knob does. Callers always have work, so the limit is always full: a
    discrete-event run on a simulated clock."""

    capacity: int
    service_ms: float
    now: float = 0.0
    in_flight: list[tuple[float, int, float, int, bool]] = field(default_factory=list)
    _order: int = 0

    def fill(self, lim: AdaptiveLimit) -> None:
        while len(self.in_flight) < lim.limit:
            n = len(self.in_flight) + 1
            latency = self.service_ms * max(1.0, n / self.capacity)
            self._order += 1
            heapq.heappush(
                self.in_flight, (self.now + latency, self._order, latency, lim.epoch, lim.is_busy(n))
            )

    def run(self, lim: AdaptiveLimit, completions: int) -> list[int]:
        """The limit after each of ``completions`` finished calls."""
        seen = []
        for _ in range(completions):
            self.fill(lim)
            self.now, _, latency, epoch, busy = heapq.heappop(self.in_flight)
            lim.sample(latency, epoch=epoch, busy=busy)
            seen.append(lim.limit)
        return seen


def test_the_limit_grows_one_a_window_to_the_ceiling_while_latency_stays_at_no_load() -> None:
    lim = limit(ceiling=12, initial=4)
    changes = [window(lim, 20.0) for _ in range(20)]
    assert lim.limit == 12
    raised = [c for c in changes if c is not None]
    assert [(c.old, c.new) for c in raised] == [(n, n + 1) for n in range(4, 12)]
    assert "near the source's no-load 20 ms" in raised[0].reason
    assert lim.no_load_ms == 20.0
    assert lim.expected_ms == 20.0


def test_rising_latency_cuts_the_limit_multiplicatively_once_a_window() -> None:
    lim = limit(ceiling=100, initial=50)
    window(lim, 20.0)
    assert lim.limit == 51
    change = window(lim, 80.0)
    assert change is not None
    assert (change.old, change.new) == (51, 45)  # floor(51 x 0.9)
    assert "exceeds 1.5 x the source's no-load 20 ms" in change.reason
    assert lim.epoch == 1
    assert lim.expected_ms == 80.0
    # Samples of attempts admitted before the cut describe the old limit: ignored.
    for _ in range(3 * WINDOW_SAMPLES):
        assert lim.sample(500.0, epoch=0, busy=True) is None
    assert lim.limit == 45
    assert window(lim, 80.0) is not None
    assert lim.limit == 40


def test_a_timeout_cuts_at_once_and_the_rest_of_its_round_does_not_cut_again() -> None:
    lim = limit(ceiling=32, initial=20)
    first = lim.sample(300.0, epoch=0, busy=True, drop="timeout")
    assert first is not None
    assert (first.old, first.new) == (20, 18)
    assert (
        first.message("crm") == "concurrency limit of crm lowered 20 -> 18: an attempt timed out after 300 ms"
    )
    for _ in range(19):  # the other attempts of the overloaded round time out too
        assert lim.sample(300.0, epoch=0, busy=True, drop="timeout") is None
    assert lim.limit == 18
    second = lim.sample(300.0, epoch=lim.epoch, busy=True, drop="rate_limited")
    assert second is not None
    assert second.new == 16
    assert "429" in second.reason


def test_a_quiet_source_keeps_its_limit_whatever_its_latency() -> None:
    lim = limit()
    window(lim, 20.0, busy=False)
    assert window(lim, 500.0, busy=False) is None
    assert lim.sample(300.0, epoch=0, busy=False, drop="timeout") is None
    for _ in range(5):
        assert window(lim, 20.0, busy=False) is None
    assert lim.limit == 8
    assert lim.no_load_ms == 20.0, "quiet windows still measure the no-load latency"


def test_one_slow_answer_in_a_window_does_not_move_the_limit_down() -> None:
    lim = limit()
    window(lim, 20.0)
    for latency in [20.0] * (WINDOW_SAMPLES - 1) + [2_000.0]:
        change = lim.sample(latency, epoch=lim.epoch, busy=True)
    assert change is not None
    assert change.new == 10


def test_timing_noise_of_a_few_ms_on_a_fast_source_is_not_a_slowdown() -> None:
    lim = limit()
    window(lim, 0.2)
    assert (window(lim, 4.0) or LimitChange(old=0, new=0, reason="")).new > 0
    assert lim.limit == 10


def test_at_the_minimum_a_slower_source_becomes_the_new_no_load_and_the_limit_grows_back() -> None:
    lim = limit(ceiling=8, initial=4)
    window(lim, 20.0)
    cuts = 0
    while lim.limit > 1:
        assert window(lim, 200.0) is not None  # ten times slower, whatever graphfetch does
        cuts += 1
    assert cuts == 4
    assert lim.no_load_ms == 20.0
    assert window(lim, 200.0) is None
    assert lim.no_load_ms == 200.0, "one attempt at a time adds no load: the source's own latency"
    for _ in range(7):
        window(lim, 200.0)
    assert lim.limit == 8


def test_against_a_saturated_server_the_limit_settles_around_its_capacity() -> None:
    lim = limit(ceiling=64, initial=4)
    seen = SaturatedServer(capacity=8, service_ms=100.0).run(lim, 20_000)
    settled = seen[-5_000:]
    print(f"\nlimit over the last 5000 calls: {min(settled)}..{max(settled)} (capacity 8)")
    assert min(settled) >= 8
    assert max(settled) <= 16
    assert max(seen) < 32, "it never ran away towards the ceiling"


def test_a_limit_started_far_above_capacity_comes_down_near_it() -> None:
    lim = limit(ceiling=64, initial=64)
    seen = SaturatedServer(capacity=4, service_ms=100.0).run(lim, 20_000)
    settled = seen[-5_000:]
    print(f"\nlimit over the last 5000 calls: {min(settled)}..{max(settled)} (capacity 4, started at 64)")
    # The first window already loaded the server (its median came from calls sharing it), so the
    # no-load latency is learned high and the limit settles above 1.5 x capacity: why it starts low.
    assert min(settled) >= 4
    assert max(settled) <= 12


@pytest.mark.parametrize(
    "bad",
    [
        {"initial": 0},
        {"initial": 40},
        {"minimum": 9},
        {"tolerance": 1.0},
        {"backoff_ratio": 1.0},
        {"backoff_ratio": 0.0},
        {"window": 0},
    ],
)
def test_inconsistent_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="need"):
        limit(**bad)


@given(
    ceiling=st.integers(1, 50),
    start=st.floats(0, 1),
    ratio=st.floats(0.05, 0.95),
    samples=st.lists(
        st.tuples(
            st.floats(0, 10_000, allow_nan=False),
            st.booleans(),
            st.sampled_from([None, "timeout", "rate_limited"]),
            st.booleans(),
        ),
        max_size=300,
    ),
)
def test_the_limit_never_leaves_one_to_the_ceiling(
    ceiling: int, start: float, ratio: float, samples: list[tuple[float, bool, str | None, bool]]
) -> None:
    lim = AdaptiveLimit(ceiling=ceiling, initial=max(1, round(start * ceiling)), backoff_ratio=ratio)
    for latency, busy, drop, current in samples:
        epoch = lim.epoch if current else lim.epoch - 1
        change = lim.sample(latency, epoch=epoch, busy=busy, drop=drop)  # type: ignore[arg-type]
        assert 1 <= lim.limit <= ceiling
        if change is not None:
            assert change.new == lim.limit
            assert change.new != change.old
            assert change.new == change.old + 1 or change.new <= max(1, int(change.old * ratio))
