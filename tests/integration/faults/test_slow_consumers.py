"""Connectors slower than the request rate: back-pressure keeps worker memory bounded, nothing is dropped.

With 200 ms upstream calls and 8 fetches at once per connector worker, two
workers serve about 80 fetches a second against about 160 offered; the
backlog waits in Kafka, not in the workers. Every request still gets a
profile (partial at its deadline when its fetches waited too long). The time
to be complete again afterwards is printed, not asserted: the slow calls may
have opened breakers that stay open for their reset time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the fixture's type; pytest loads conftest.py itself
    from conftest import Run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RSS_GROWTH_MB = 60.0
"""Far below what holding the backlog would take, far above the noise of two idle workers."""


async def test_slow_connectors_keep_memory_bounded_and_drop_nothing(run: Run) -> None:
    # The chaos default rate: the point is offering twice what the connectors can fetch.
    figures = await run("slow-consumers", fault_s=6.0, rate=30.0)

    assert figures.lost == 0, figures
    assert figures.duplicated == 0, figures
    assert figures.statuses_during.get("complete", 0) < sum(figures.statuses_during.values()), (
        "the connectors kept up: the scenario did not overload them"
    )
    assert figures.worker_rss_baseline_mb is not None
    assert figures.worker_rss_peak_mb is not None
    assert figures.worker_rss_peak_mb - figures.worker_rss_baseline_mb < RSS_GROWTH_MB, figures
    print(f"recovery after the upstreams sped up: {figures.recovery_s} s")
