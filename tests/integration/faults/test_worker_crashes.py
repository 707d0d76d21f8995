"""SIGKILLed workers under load: nothing lost, duplicates only where the README's guarantee allows.

A SIGKILL can leave a profile published without its ``completed`` marker, so a
request in flight at the kill may be answered a second time by the replaying
replacement (README, "Guarantees"; tests/integration/runtime/test_crash.py
counts them the same way). Any other duplicate, or a single lost request, fails.

Profiles must also be complete again at normal latency before the run ends
(the settle phase is long enough for a rebalance: about 1.5x the session
timeout).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the fixture's type; pytest loads conftest.py itself
    from conftest import Run

    from streams.chaos.figures import ScenarioFigures

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SETTLE_S = 15.0


def expect_recovered(figures: ScenarioFigures) -> None:
    assert figures.recovery_s is not None, f"not recovered; errors: {dict(list(figures.errors.items())[:6])}"


@pytest.mark.parametrize("role", ["planner", "connector", "aggregator"])
async def test_sigkill_of_one_role_loses_nothing(run: Run, role: str) -> None:
    figures = await run(f"kill-{role}", settle_s=SETTLE_S)

    assert figures.sent > 0
    assert figures.lost == 0, figures
    assert figures.duplicated <= figures.in_flight_at_fault, figures
    expect_recovered(figures)


async def test_sigkill_of_every_worker_loses_nothing(run: Run) -> None:
    figures = await run("kill-all", settle_s=SETTLE_S)

    assert figures.lost == 0, figures
    assert figures.duplicated <= figures.in_flight_at_fault, figures
    assert figures.statuses_during, "requests sent while no worker ran must be answered after the restart"
    expect_recovered(figures)
