"""A frozen broker (SIGSTOP, then SIGCONT): the workers reconnect and catch up, nothing lost or doubled.

Profiles must be complete again at normal latency before the run ends: the
catch-up is paced by ``max_in_flight_requests``, so it does not overwhelm the
upstreams and open their breakers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the fixture's type; pytest loads conftest.py itself
    from conftest import Run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_broker_pause_loses_and_duplicates_nothing(run: Run) -> None:
    figures = await run("broker-pause", fault_s=6.0, settle_s=15.0)

    assert figures.sent > 0
    assert figures.send_failures == 0, "the client's requests must survive the pause too"
    assert figures.lost == 0, figures
    assert figures.duplicated == 0, figures
    assert figures.recovery_s is not None, f"not recovered; errors: {dict(list(figures.errors.items())[:6])}"
