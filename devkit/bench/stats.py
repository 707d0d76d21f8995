"""Summaries of measured samples: percentiles, a latency summary, a least-squares line.

Percentiles interpolate linearly between the two nearest ranks (numpy's default),
so a p99 of 50 samples is not simply the largest one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field


class Summary(BaseModel):
    """Latency (or any) samples in milliseconds, summarised."""

    model_config = ConfigDict(frozen=True)

    n: int = Field(description="Samples summarised.")
    p50: float
    p95: float
    p99: float
    mean: float
    max: float

    def minus(self, other: Summary) -> Overhead:
        """This summary's percentiles less ``other``'s: what this runtime adds over ``other``."""
        return Overhead(p50=self.p50 - other.p50, p95=self.p95 - other.p95, p99=self.p99 - other.p99)


class Overhead(BaseModel):
    """Differences of percentiles between two runtimes, in milliseconds."""

    model_config = ConfigDict(frozen=True)

    p50: float
    p95: float
    p99: float

    def per(self, divisor: float) -> Overhead:
        return Overhead(p50=self.p50 / divisor, p95=self.p95 / divisor, p99=self.p99 / divisor)


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile (0..1) of ``values``, interpolated between ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = share * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise(values: Sequence[float]) -> Summary:
    if not values:
        return Summary(n=0, p50=math.nan, p95=math.nan, p99=math.nan, mean=math.nan, max=math.nan)
    return Summary(
        n=len(values),
        p50=percentile(values, 0.50),
        p95=percentile(values, 0.95),
        p99=percentile(values, 0.99),
        mean=sum(values) / len(values),
        max=max(values),
    )


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``(slope, intercept)`` of ``ys`` over ``xs``; NaNs with fewer than two distinct xs."""
    if len(xs) != len(ys) or len(set(xs)) < 2:
        return math.nan, math.nan
    mean_x = sum(xs) / len(xs)
    mean_y = sum(ys) / len(ys)
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    variance = sum((x - mean_x) ** 2 for x in xs)
    gradient = covariance / variance
    return gradient, mean_y - gradient * mean_x
