"""Upstream faults through the demo upstreams' knobs: nothing lost, nothing answered twice.

Errors, hangs and a latency tail are absorbed by timeouts and retries (the
odd request may still end partial or failed: three bad draws in a row); a
source that is down opens its breaker, so profiles come back partial
(``tickets`` is optional) and complete again once it is back. How soon is a
figure, not an assertion: ``graphfetch chaos -s source-down`` prints it
("recovery s"), and a breaker's reset time is tested on a fake clock
(tests/unit/connectors/test_breaker.py). The figures' ``recovery_s`` also
needs the last seconds of the stream at a latency near the baseline's, which a
load that comes and goes on two shared cores can deny; so it is printed, as in
the other fault tests, and what is asserted is that requests sent after the
fault came back complete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the fixture's type; pytest loads conftest.py itself
    from tests.integration.faults.conftest import Run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("scenario", ["errors", "hangs", "tail"])
async def test_retried_upstream_faults_lose_and_duplicate_nothing(run: Run, scenario: str) -> None:
    figures = await run(scenario)

    assert figures.sent > 0
    assert figures.lost == 0, figures
    assert figures.duplicated == 0, figures
    assert figures.share("complete", window="during") >= 0.9, figures.statuses_during
    assert figures.statuses_after.get("complete", 0) > 0, "profiles were not complete again after the fault"
    print(f"recovery after the fault: {figures.recovery_s} s")


async def test_source_down_gives_partial_profiles_then_complete_ones(run: Run) -> None:
    # 15 s to settle, as for the broker pause: the breaker (reset after 5 s) must close again and
    # profiles be complete to the end of the stream, which a loaded machine only makes later.
    figures = await run("source-down", fault_s=6.0, settle_s=15.0)

    assert figures.lost == 0, figures
    assert figures.duplicated == 0, figures
    assert figures.share("partial", window="during") >= 0.5, figures.statuses_during
    assert figures.statuses_during.get("failed", 0) == 0, "tickets is optional: never a failed profile"
    assert figures.statuses_after.get("complete", 0) > 0, (
        "profiles were not complete again after the source came back"
    )
    print(f"recovery after the source came back: {figures.recovery_s} s")
