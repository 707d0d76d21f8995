"""A clock the test moves: a callable of monotonic (or epoch) seconds, for the code under test to read."""

from __future__ import annotations


class ManualClock:
    """Returns :attr:`now`, which only the test changes (``clock.now += 5``): time passes when the test
    says, never while a loaded machine runs the test's steps."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
