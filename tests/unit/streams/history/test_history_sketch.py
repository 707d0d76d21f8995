"""DecayingSketch: accurate quantiles, exact merges, halving per half-life, a lossless JSON round trip."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.engine.history import DecayingSketch

ACCURACY = 0.01
HALF_LIFE = 60.0
QUANTILES = (0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0)


def sketch_of(values: list[float], *, at_s: float = 0.0, landmark_s: float = 0.0) -> DecayingSketch:
    sketch = DecayingSketch(relative_accuracy=ACCURACY, half_life_s=HALF_LIFE, landmark_s=landmark_s)
    for value in values:
        sketch.add(value, at_s=at_s)
    return sketch


def order_statistic(values: np.ndarray, q: float) -> float:
    """The value the sketch ranks at q: index floor(q * n) of the sorted values (the last for q=1)."""
    ordered = np.sort(values)
    return float(ordered[min(math.floor(q * len(ordered)), len(ordered) - 1)])


@pytest.mark.parametrize(
    "distribution",
    [
        pytest.param(lambda rng: rng.lognormal(math.log(40), 0.6, 20_000), id="lognormal"),
        pytest.param(lambda rng: rng.exponential(25.0, 20_000) + 1.0, id="exponential"),
        pytest.param(lambda rng: rng.uniform(5.0, 500.0, 20_000), id="uniform"),
        pytest.param(lambda rng: rng.pareto(1.5, 20_000) * 10 + 2.0, id="pareto-heavy-tail"),
    ],
)
def test_quantiles_are_within_the_relative_accuracy(
    distribution: Callable[[np.random.Generator], np.ndarray],
) -> None:
    values = distribution(np.random.default_rng(7))
    sketch = sketch_of([float(v) for v in values])
    for q in QUANTILES:
        expected = order_statistic(values, q)
        estimate = sketch.quantile(q)
        assert estimate is not None
        assert abs(estimate - expected) <= ACCURACY * expected * 1.000_001, (q, estimate, expected)
    # And close to numpy's interpolated quantile, which ranks at q * (n - 1).
    assert sketch.quantile(0.95) == pytest.approx(float(np.quantile(values, 0.95)), rel=0.02)


def test_empty_sketch_has_no_quantile_and_rejects_bad_input() -> None:
    sketch = sketch_of([])
    assert sketch.quantile(0.5) is None
    assert sketch.error_rate() is None
    assert sketch.count(at_s=0) == 0
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="finite number of milliseconds"):
            sketch.add(bad, at_s=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        sketch.quantile(1.5)


def test_zero_latencies_are_counted_and_ranked_first() -> None:
    sketch = sketch_of([0.0] * 30 + [100.0] * 70)
    assert sketch.quantile(0.2) == 0.0
    assert sketch.quantile(0.5) == pytest.approx(100.0, rel=ACCURACY)
    assert sketch.count(at_s=0) == pytest.approx(100.0)


def test_merge_equals_the_sketch_of_all_observations() -> None:
    rng = np.random.default_rng(3)
    first = [float(v) for v in rng.lognormal(3.0, 0.5, 5_000)]
    second = [float(v) for v in rng.lognormal(4.0, 0.8, 3_000)]
    merged = sketch_of(first)
    merged.merge(sketch_of(second))
    together = sketch_of(first + second)
    for q in QUANTILES:
        assert merged.quantile(q) == together.quantile(q)
    assert merged.count(at_s=0) == pytest.approx(together.count(at_s=0))


def test_merge_aligns_landmarks_of_sketches_started_at_different_times() -> None:
    """A peer's sketch has its own landmark; the merge is the same as one sketch seeing both streams."""
    early = sketch_of([10.0] * 100, at_s=0.0, landmark_s=0.0)
    late = sketch_of([200.0] * 100, at_s=90.0, landmark_s=90.0)
    reference = sketch_of([10.0] * 100, at_s=0.0)
    for value in [200.0] * 100:
        reference.add(value, at_s=90.0)

    for target, source in ((early.copy(), late), (late.copy(), early)):
        target.merge(source)
        for q in QUANTILES:
            assert target.quantile(q) == reference.quantile(q)
        assert target.count(at_s=120.0) == pytest.approx(reference.count(at_s=120.0))
    # 100 observations 1.5 half-lives old and 100 fresh ones: the fresh ones weigh 2**1.5 times more.
    assert reference.quantile(0.25) == pytest.approx(10.0, rel=ACCURACY)
    assert reference.quantile(0.3) == pytest.approx(200.0, rel=ACCURACY)


def test_merge_refuses_sketches_with_other_parameters() -> None:
    ours = sketch_of([1.0])
    with pytest.raises(ValueError, match="different parameters"):
        ours.merge(DecayingSketch(relative_accuracy=0.02, half_life_s=HALF_LIFE, landmark_s=0))
    with pytest.raises(ValueError, match="different parameters"):
        ours.merge(DecayingSketch(relative_accuracy=ACCURACY, half_life_s=HALF_LIFE * 2, landmark_s=0))


def test_weight_halves_after_one_half_life() -> None:
    sketch = sketch_of([50.0] * 100)
    for outcome in [True] * 90 + [False] * 10:
        sketch.add_outcome(ok=outcome, at_s=0.0)
    assert sketch.count(at_s=HALF_LIFE) == pytest.approx(50.0)
    assert sketch.count(at_s=3 * HALF_LIFE) == pytest.approx(12.5)
    assert sketch.outcomes(at_s=HALF_LIFE) == pytest.approx((45.0, 5.0))
    assert sketch.error_rate() == pytest.approx(0.1)


def test_new_observations_outweigh_old_ones() -> None:
    """A source that became slow: ten half-lives later, its median is the new latency."""
    sketch = sketch_of([10.0] * 1_000, at_s=0.0)
    for _ in range(100):
        sketch.add(300.0, at_s=10 * HALF_LIFE)
        sketch.add_outcome(ok=False, at_s=10 * HALF_LIFE)
    for _ in range(1_000):
        sketch.add_outcome(ok=True, at_s=0.0)
    assert sketch.quantile(0.5) == pytest.approx(300.0, rel=ACCURACY)
    assert sketch.error_rate() == pytest.approx(100 / (100 + 1_000 / 1024), rel=1e-9)


def test_renormalisation_keeps_counts_and_quantiles() -> None:
    """Far from the landmark, the sketch moves it forward; decayed counts do not change."""
    sketch = sketch_of([10.0] * 64, at_s=0.0)
    later = 34 * HALF_LIFE  # beyond RENORMALISE_AFTER_HALF_LIVES (32)
    for _ in range(64):
        sketch.add(500.0, at_s=later)
    assert sketch.landmark_s == later
    assert sketch.count(at_s=later) == pytest.approx(64.0 + 64.0 / 2**34, rel=1e-12)
    assert sketch.quantile(0.01) == pytest.approx(500.0, rel=ACCURACY)


def test_json_round_trip_keeps_quantiles_and_counts() -> None:
    rng = np.random.default_rng(11)
    sketch = DecayingSketch(relative_accuracy=ACCURACY, half_life_s=HALF_LIFE, landmark_s=1_000.0)
    for i, value in enumerate(rng.lognormal(3.5, 0.7, 2_000)):
        sketch.add(float(value), at_s=1_000.0 + i * 0.05)
        sketch.add_outcome(ok=i % 7 != 0, at_s=1_000.0 + i * 0.05)
    sketch.add(0.0, at_s=1_100.0)

    text = json.dumps(sketch.to_json(at_s=1_100.0))
    restored = DecayingSketch.from_json(json.loads(text))

    assert restored.landmark_s == 1_100.0
    for q in QUANTILES:
        assert restored.quantile(q) == sketch.quantile(q)
    assert restored.count(at_s=1_200.0) == pytest.approx(sketch.count(at_s=1_200.0), abs=0.5)
    assert restored.error_rate() == pytest.approx(sketch.error_rate(), abs=1e-4)


def test_json_of_an_empty_sketch_round_trips() -> None:
    restored = DecayingSketch.from_json(sketch_of([]).to_json(at_s=5.0))
    assert restored.quantile(0.5) is None
    assert restored.count(at_s=5.0) == 0


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"bins": [1.0, -2.0]}, "bins.1"),
        ({"relative_accuracy": 2}, "relative_accuracy"),
        ({"half_life_s": 0}, "half_life_s"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_malformed_json_is_refused_with_its_location(change: dict[str, object], where: str) -> None:
    data = {**sketch_of([3.0, 4.0]).to_json(at_s=0.0), **change}
    with pytest.raises(ValueError, match=f"malformed at {where}"):
        DecayingSketch.from_json(data)


latencies = st.lists(
    st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=200
)


@given(
    values=latencies,
    ages=st.lists(st.floats(min_value=0.0, max_value=50 * HALF_LIFE), min_size=1, max_size=200),
    qs=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=2, max_size=10),
)
def test_quantiles_are_monotonic_in_q(values: list[float], ages: list[float], qs: list[float]) -> None:
    sketch = DecayingSketch(relative_accuracy=ACCURACY, half_life_s=HALF_LIFE, landmark_s=0.0)
    for value, age in zip(values, ages * (len(values) // len(ages) + 1), strict=False):
        sketch.add(value, at_s=age)
    answers = [sketch.quantile(q) for q in sorted(qs)]
    assert all(a is not None for a in answers)
    assert answers == sorted(answers)  # type: ignore[type-var]
    low, high = min(values), max(values)
    assert all(low * (1 - ACCURACY) - 1e-300 <= a <= high * (1 + ACCURACY) for a in answers)  # type: ignore[operator]
