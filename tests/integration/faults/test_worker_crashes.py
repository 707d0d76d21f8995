"""SIGKILLed workers under load: nothing lost, duplicates only where docs/guarantees.md allows.

A SIGKILL can leave a profile published without its ``completed`` marker, so a
request in flight at the kill may be answered a second time by the replaying
replacement (docs/guarantees.md; tests/integration/runtime/test_crash.py
counts them the same way). Any other duplicate, or a single lost request, fails.

The time until profiles are complete again is printed, not asserted (the
settle phase is long enough for a rebalance, about 1.5x the session timeout,
but not always for the catch-up's breakers: docs/faults.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the fixture's type; pytest loads conftest.py itself
    from conftest import Run

    from devkit.chaos.figures import ScenarioFigures

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SETTLE_S = 15.0


def report_recovery(figures: ScenarioFigures) -> None:
    """Printed, not asserted: the catch-up after a restart can open a healthy source's breaker for a
    while on two shared cores (docs/faults.md); a CI run saw it outlast the settle phase."""
    print(
        f"recovery after the restart: {figures.recovery_s} s; errors: {dict(list(figures.errors.items())[:6])}"
    )


@pytest.mark.parametrize("role", ["planner", "connector", "aggregator"])
async def test_sigkill_of_one_role_loses_nothing(run: Run, role: str) -> None:
    figures = await run(f"kill-{role}", settle_s=SETTLE_S)

    assert figures.sent > 0
    assert figures.lost == 0, figures
    assert figures.duplicated <= figures.duplicates_allowed, figures
    report_recovery(figures)


async def test_sigkill_of_every_worker_loses_nothing(run: Run) -> None:
    figures = await run("kill-all", settle_s=SETTLE_S)

    assert figures.lost == 0, figures
    assert figures.duplicated <= figures.duplicates_allowed, figures
    assert figures.statuses_during, "requests sent while no worker ran must be answered after the restart"
    report_recovery(figures)
