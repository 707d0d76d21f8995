"""A frozen broker (SIGSTOP, then SIGCONT): the workers reconnect and catch up, nothing lost.

A pause as long as the session timeout expires the members' sessions, so the
groups rebalance on resume exactly as after a crash: a request in flight at
that moment may be answered twice (docs/guarantees.md). How long the
catch-up takes is printed, not asserted: on two shared cores its burst can
open a healthy source's breaker for a while (docs/faults.md).
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
    assert figures.duplicated <= figures.duplicates_allowed, figures
    print(f"recovery after the pause: {figures.recovery_s} s")
