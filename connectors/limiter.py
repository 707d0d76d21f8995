"""A source's adaptive concurrency limit, learned from the latency of its attempts as they finish.

Additive increase, multiplicative decrease (AIMD, as in TCP and Netflix's
concurrency-limits) driven by latency (as in TCP Vegas and Gradient2): a source
gets as many attempts at once as it answers without slowing down, and no more.
Pure: no clock, no I/O; :class:`~connectors.admission.Admission` feeds it.

**Samples.** Every finished attempt is one: its latency, whether it was a
*drop* (it ran out its full timeout, or the source answered 429), the limit's
*epoch* when it was admitted (every cut starts a new one) and whether the source
was *busy* then (attempts in flight, itself included, at least half the limit).

**Windows.** Samples of the current epoch gather in windows of
``WINDOW_SAMPLES``. A full window's median latency is compared with the
source's *no-load latency*, the lowest window median seen:

==============================================  ==============================
the window's median                              the limit
==============================================  ==============================
at most ``tolerance`` x no-load (+ ``slack_ms``)  + 1, up to the ceiling
above it                                         x ``backoff_ratio`` (at least - 1)
==============================================  ==============================

Only a *busy* window moves the limit: while graphfetch does not push the source,
its latency says nothing about the limit, so a quiet source neither earns a
larger limit nor loses its limit to slowness it did not cause.

**Drops.** A drop of a busy attempt of the current epoch cuts the limit at once.

**At most one cut per window.** A cut starts a new epoch: samples of attempts
admitted before it describe the old limit and are ignored, so a burst of
timeouts from one overloaded round cuts the limit once, not once per timeout.

**At the minimum** (one attempt at a time) graphfetch adds no load, so the
latency seen there is the source's own: a window above tolerance takes it as
the new no-load latency instead of cutting further. A source that became slower
on its own therefore costs a dip to the minimum and back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

WINDOW_SAMPLES: Final = 10
"""Samples per window: enough for a median that one slow answer does not move."""
MINIMUM: Final = 1
SLACK_MS: Final = 5.0
"""Latency within this much of ``tolerance`` x no-load still counts as near it: the timing noise
of a busy event loop, so that a source answering in 1 ms is not cut for answering in 3."""

Drop = Literal["timeout", "rate_limited"]
"""An attempt that says the source is overloaded: it ran out its timeout, or was answered 429."""

_DROPS: Final[dict[Drop, str]] = {
    "timeout": "an attempt timed out after {latency:.0f} ms",
    "rate_limited": "the source answered 429 (too many requests)",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class LimitChange:
    """The limit moved from ``old`` to ``new`` because of ``reason`` (words)."""

    old: int
    new: int
    reason: str

    def message(self, source: str) -> str:
        """The sentence for the span event and the lineage note."""
        verb = "raised" if self.new > self.old else "lowered"
        return f"concurrency limit of {source} {verb} {self.old} -> {self.new}: {self.reason}"


class AdaptiveLimit:
    """The limit of one source, between ``minimum`` and ``ceiling``; see the module docstring."""

    def __init__(
        self,
        *,
        ceiling: int,
        initial: int,
        tolerance: float = 1.5,
        backoff_ratio: float = 0.9,
        minimum: int = MINIMUM,
        window: int = WINDOW_SAMPLES,
        slack_ms: float = SLACK_MS,
    ) -> None:
        if not 1 <= minimum <= initial <= ceiling:
            raise ValueError(f"need 1 <= minimum ({minimum}) <= initial ({initial}) <= ceiling ({ceiling})")
        if tolerance <= 1.0 or not 0.0 < backoff_ratio < 1.0 or window < 1 or slack_ms < 0:
            raise ValueError("need tolerance > 1, 0 < backoff_ratio < 1, window >= 1 and slack_ms >= 0")
        self.ceiling = ceiling
        self.minimum = minimum
        self.tolerance = tolerance
        self.backoff_ratio = backoff_ratio
        self.window = window
        self.slack_ms = slack_ms
        self.limit = initial
        """Attempts allowed in flight now."""
        self.epoch = 0
        """Cuts so far: an attempt admitted in an older epoch was admitted under a limit since cut."""
        self.no_load_ms: float | None = None
        """The source's latency when graphfetch does not load it: the lowest window median."""
        self.expected_ms: float | None = None
        """The source's latency now: the last window's median (``None`` before the first)."""
        self._samples: list[float] = []
        self._busy = False

    def is_busy(self, in_flight: int) -> bool:
        """Whether ``in_flight`` attempts (a new one included) push the source hard enough to judge
        the limit by their latency."""
        return 2 * in_flight >= self.limit

    def sample(
        self, latency_ms: float, *, epoch: int, busy: bool, drop: Drop | None = None
    ) -> LimitChange | None:
        """Account for one finished attempt; returns the change it caused, if any."""
        if epoch != self.epoch:
            return None
        if drop is not None and busy:
            return self._cut(_DROPS[drop].format(latency=latency_ms))
        self._samples.append(latency_ms)
        self._busy = self._busy or busy
        if len(self._samples) < self.window:
            return None
        return self._close_window()

    def _close_window(self) -> LimitChange | None:
        samples, busy = sorted(self._samples), self._busy
        self._samples, self._busy = [], False
        median = samples[len(samples) // 2]
        self.expected_ms = median
        if self.no_load_ms is None or median < self.no_load_ms:
            self.no_load_ms = median
        if not busy:
            return None
        threshold = self.tolerance * self.no_load_ms + self.slack_ms
        if median <= threshold:
            if self.limit >= self.ceiling:
                return None
            return self._move(
                self.limit + 1,
                f"median latency {median:.0f} ms over the last {len(samples)} attempts is near the "
                f"source's no-load {self.no_load_ms:.0f} ms (at most {self.tolerance:g} x)",
            )
        if self.limit <= self.minimum:
            self.no_load_ms = median  # one attempt at a time adds no load: this is the source's own latency
            return None
        return self._cut(
            f"median latency {median:.0f} ms over the last {len(samples)} attempts exceeds "
            f"{self.tolerance:g} x the source's no-load {self.no_load_ms:.0f} ms"
        )

    def _cut(self, reason: str) -> LimitChange | None:
        lowered = max(self.minimum, min(self.limit - 1, math.floor(self.limit * self.backoff_ratio)))
        if lowered == self.limit:
            return None
        self.epoch += 1
        self._samples, self._busy = [], False
        return self._move(lowered, reason)

    def _move(self, limit: int, reason: str) -> LimitChange:
        change = LimitChange(old=self.limit, new=limit, reason=reason)
        self.limit = limit
        return change

    def __repr__(self) -> str:
        return (
            f"<AdaptiveLimit {self.limit} of {self.minimum}..{self.ceiling} epoch={self.epoch} "
            f"no_load_ms={self.no_load_ms} expected_ms={self.expected_ms}>"
        )
