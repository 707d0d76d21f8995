"""A latency sketch that forgets: DDSketch bins under forward exponential decay, plus outcome counters.

Decay scheme: forward decay (Cormode et al., "Forward decay", ICDE 2009). An
observation made at time ``t`` is added with weight ``2 ** ((t - L) / h)``,
where ``L`` is the sketch's landmark and ``h`` its half-life. Its weight
relative to an observation made at query time ``now`` is then
``2 ** ((t - now) / h)``: it halves every half-life, with no work at all as
time passes. Chosen over rotating time windows merged on read because

* one sketch per key, not one per window: a fraction of the memory;
* forgetting is smooth: a window scheme drops a whole window at once, which
  makes a p99 jump every rotation;
* quantiles and error rates are ratios of weights, so they need no "now" at
  all, and merging is exact: the weights of two sketches are aligned to one
  landmark (one multiplication per bin) and added.

Weights grow as time moves away from the landmark; after
``RENORMALISE_AFTER_HALF_LIVES`` the sketch moves its landmark forward and
scales every bin down, which also drops bins whose weight has become
negligible.

Built on the ``ddsketch`` library's logarithmic key mapping (relative accuracy
guaranteed per bin) and its collapsing dense store, not on its ``DDSketch``
class: that class ranks at ``q * (count - 1)``, which is wrong once weights are
decayed below one, keeps a sum, minimum and maximum that cannot be decayed,
and offers no way to scale its weights.

Latencies are non-negative. Timestamps are epoch seconds, so sketches of
different processes can be merged.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from typing import Any

from ddsketch.mapping import LogarithmicMapping
from ddsketch.store import CollapsingLowestDenseStore
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, ValidationError

__all__ = ["DecayingSketch", "SketchState"]

RENORMALISE_AFTER_HALF_LIVES = 32.0
"""Weights reach 2**32 before the landmark moves: far from float limits, rare (32 half-lives)."""
BIN_LIMIT = 1024
"""Bins per sketch; beyond it the lowest collapse (1% accuracy: about 1 µs to 10 min kept exact)."""
_NEGLIGIBLE = 1e-9
"""Bins lighter than this (in decayed observations at the landmark) are dropped when rescaling."""
_JSON_DECIMALS = 3
"""Serialised bins are decayed counts rounded to a thousandth of an observation."""


class SketchState(BaseModel):
    """A sketch as plain JSON: decayed counts as of ``at_s`` (so the landmark is ``at_s``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    relative_accuracy: float = Field(gt=0, lt=1, description="DDSketch alpha, e.g. 0.01 for 1%.")
    half_life_s: float = Field(gt=0, description="Seconds for an observation's weight to halve.")
    at_s: float = Field(description="Epoch seconds the counts are decayed to.")
    zero: NonNegativeFloat = Field(0.0, description="Decayed count of latencies too small to bin (0 ms).")
    offset: int = Field(0, description="Bin key of bins[0].")
    bins: list[NonNegativeFloat] = Field(default_factory=list, description="Decayed counts per bin key.")
    ok: NonNegativeFloat = Field(0.0, description="Decayed count of successful outcomes.")
    failed: NonNegativeFloat = Field(0.0, description="Decayed count of failed outcomes.")


@functools.cache
def _mapping(relative_accuracy: float) -> LogarithmicMapping:
    """One mapping per accuracy, shared: it is immutable and sketches hold thousands of keys."""
    return LogarithmicMapping(relative_accuracy)


class DecayingSketch:
    """Latency quantiles and an error rate over exponentially decayed observations; mergeable."""

    __slots__ = ("_failed", "_half_life_s", "_landmark_s", "_mapping", "_ok", "_store", "_zero")

    def __init__(self, *, relative_accuracy: float = 0.01, half_life_s: float, landmark_s: float) -> None:
        if not 0 < relative_accuracy < 1:
            raise ValueError(f"relative_accuracy must be between 0 and 1, got {relative_accuracy}")
        if not half_life_s > 0:
            raise ValueError(f"half_life_s must be positive, got {half_life_s}")
        self._mapping = _mapping(relative_accuracy)
        self._half_life_s = float(half_life_s)
        self._landmark_s = float(landmark_s)
        self._store = CollapsingLowestDenseStore(BIN_LIMIT)
        self._zero = 0.0
        self._ok = 0.0
        self._failed = 0.0

    @property
    def relative_accuracy(self) -> float:
        return float(self._mapping.relative_accuracy)

    @property
    def half_life_s(self) -> float:
        return self._half_life_s

    @property
    def landmark_s(self) -> float:
        return self._landmark_s

    # -- recording ---------------------------------------------------------------

    def add(self, latency_ms: float, *, at_s: float) -> None:
        """Record one latency observed at ``at_s`` (epoch seconds)."""
        if not (latency_ms >= 0 and math.isfinite(latency_ms)):
            raise ValueError(f"latency must be a finite number of milliseconds >= 0, got {latency_ms}")
        weight = self._weight(at_s)
        if latency_ms > self._mapping.min_possible:
            self._store.add(self._mapping.key(latency_ms), weight)
        else:
            self._zero += weight

    def add_outcome(self, *, ok: bool, at_s: float) -> None:
        """Count one outcome observed at ``at_s``: a success or a failure."""
        if ok:
            self._ok += self._weight(at_s)
        else:
            self._failed += self._weight(at_s)

    def _weight(self, at_s: float) -> float:
        age = at_s - self._landmark_s
        if age > RENORMALISE_AFTER_HALF_LIVES * self._half_life_s:
            self._rescale_to(at_s)
            age = 0.0
        return math.exp2(age / self._half_life_s)

    # -- reading ---------------------------------------------------------------

    def quantile(self, q: float) -> float | None:
        """The latency (ms) at quantile ``q`` (0..1), within the relative accuracy; None when empty.

        The rank is ``q`` times the total weight, so the answer does not depend
        on the scale of the weights, only on their ratios.
        """
        if not 0 <= q <= 1:
            raise ValueError(f"quantile must be between 0 and 1, got {q}")
        total = self._zero + self._store.count
        if total <= 0:
            return None
        rank = q * total
        if rank < self._zero:
            return 0.0
        if self._store.count <= 0:
            return 0.0
        return float(self._mapping.value(self._store.key_at_rank(rank - self._zero)))

    def count(self, *, at_s: float) -> float:
        """Decayed number of latencies as seen at ``at_s``: each observation counts 2**(-age/half-life)."""
        return (self._zero + self._store.count) * self._decay_to(at_s)

    def outcomes(self, *, at_s: float) -> tuple[float, float]:
        """Decayed (successes, failures) as seen at ``at_s``."""
        factor = self._decay_to(at_s)
        return self._ok * factor, self._failed * factor

    def error_rate(self) -> float | None:
        """Failures over outcomes (decay cancels out of the ratio); None without outcomes."""
        total = self._ok + self._failed
        return self._failed / total if total > 0 else None

    def _decay_to(self, at_s: float) -> float:
        return math.exp2((self._landmark_s - at_s) / self._half_life_s)

    # -- combining ---------------------------------------------------------------

    def merge(self, other: DecayingSketch) -> None:
        """Add ``other``'s observations to this sketch (``other`` is left as it is)."""
        if other._mapping.gamma != self._mapping.gamma or other._half_life_s != self._half_life_s:
            raise ValueError(
                "cannot merge sketches with different parameters: "
                f"accuracy {self.relative_accuracy} vs {other.relative_accuracy}, "
                f"half-life {self._half_life_s} s vs {other._half_life_s} s"
            )
        if other._landmark_s > self._landmark_s:
            self._rescale_to(other._landmark_s)
        if other._landmark_s != self._landmark_s:
            other = other.copy()
            other._rescale_to(self._landmark_s)
        self._store.merge(other._store)
        self._zero += other._zero
        self._ok += other._ok
        self._failed += other._failed

    def copy(self) -> DecayingSketch:
        twin = DecayingSketch(
            relative_accuracy=self.relative_accuracy,
            half_life_s=self._half_life_s,
            landmark_s=self._landmark_s,
        )
        twin._store.copy(self._store)
        twin._zero, twin._ok, twin._failed = self._zero, self._ok, self._failed
        return twin

    @classmethod
    def combined(cls, sketches: Iterable[DecayingSketch]) -> DecayingSketch:
        """A new sketch holding the observations of all ``sketches`` (at least one)."""
        parts = sorted(sketches, key=lambda s: s._landmark_s, reverse=True)
        if not parts:
            raise ValueError("combined() needs at least one sketch")
        result = parts[0].copy()
        for part in parts[1:]:
            result.merge(part)
        return result

    def move_landmark(self, landmark_s: float) -> None:
        """Scale every weight to a later landmark; decayed counts, quantiles and rates stay the same.

        Sketches that share a landmark merge without scaling, which is what
        :class:`~streams.engine.history.book.History` arranges for its own and its peers' sketches.
        """
        if landmark_s < self._landmark_s:
            raise ValueError(f"the landmark only moves forward: {landmark_s} < {self._landmark_s}")
        self._rescale_to(landmark_s)

    def _rescale_to(self, landmark_s: float) -> None:
        factor = math.exp2((self._landmark_s - landmark_s) / self._half_life_s)
        self._store = _filled(self._store.offset, self._store.bins, factor)
        self._zero *= factor
        self._ok *= factor
        self._failed *= factor
        self._landmark_s = landmark_s

    # -- JSON ---------------------------------------------------------------

    def to_json(self, *, at_s: float) -> dict[str, Any]:
        """Plain JSON: decayed counts as of ``at_s``, rounded to a thousandth of an observation."""
        factor = self._decay_to(at_s)
        bins = [round(weight * factor, _JSON_DECIMALS) for weight in self._store.bins]
        first = next((i for i, w in enumerate(bins) if w > 0), len(bins))
        last = next((i for i in range(len(bins) - 1, first - 1, -1) if bins[i] > 0), first - 1)
        return {
            "relative_accuracy": self.relative_accuracy,
            "half_life_s": self._half_life_s,
            "at_s": at_s,
            "zero": round(self._zero * factor, _JSON_DECIMALS),
            "offset": self._store.offset + first if last >= first else 0,
            "bins": bins[first : last + 1],
            "ok": round(self._ok * factor, _JSON_DECIMALS),
            "failed": round(self._failed * factor, _JSON_DECIMALS),
        }

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any] | SketchState, *, landmark_s: float | None = None
    ) -> DecayingSketch:
        """Rebuild a sketch from :meth:`to_json`'s output; ValueError says what is malformed.

        ``landmark_s`` (default: the JSON's ``at_s``) is the new sketch's landmark.
        """
        if not isinstance(data, SketchState):
            try:
                data = SketchState.model_validate(data)
            except ValidationError as exc:
                problem = exc.errors()[0]
                where = ".".join(str(p) for p in problem["loc"]) or "sketch"
                raise ValueError(f"sketch JSON is malformed at {where}: {problem['msg']}") from None
        landmark = data.at_s if landmark_s is None else landmark_s
        factor = math.exp2((data.at_s - landmark) / data.half_life_s)
        sketch = cls(
            relative_accuracy=data.relative_accuracy, half_life_s=data.half_life_s, landmark_s=landmark
        )
        sketch._store = _filled(data.offset, data.bins, factor)
        sketch._zero, sketch._ok, sketch._failed = data.zero * factor, data.ok * factor, data.failed * factor
        return sketch


def _filled(offset: int, weights: list[float], factor: float) -> CollapsingLowestDenseStore:
    """A store with ``weights[i] * factor`` at key ``offset + i``, negligible weights left out.

    The outermost keys go in first: the store then sizes itself once instead
    of growing with every key.
    """
    items = [(offset + i, w * factor) for i, w in enumerate(weights) if w * factor > _NEGLIGIBLE]
    store = CollapsingLowestDenseStore(BIN_LIMIT)
    if items:
        items[0], items[-1] = items[-1], items[0]
    for key, weight in items:
        store.add(key, weight)
    return store
