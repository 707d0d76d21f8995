"""Sources a config change replaced are closed once idle; one fetched from again starts anew."""

from __future__ import annotations

import asyncio

from connectors import ConnectorState
from planner import Source
from streams.engine.sources import SourcePool
from tests.support.clock import ManualClock


async def test_a_source_idle_for_the_close_time_is_closed_and_restarted_when_used_again() -> None:
    clock = ManualClock()
    pool = SourcePool(idle_close_s=60.0, clock=clock)
    before, after = (Source(connector="http", base_url=f"http://127.0.0.1:{port}") for port in (1, 2))
    try:
        replaced = await pool.get("api", before)
        clock.now += 30.0
        current = await pool.get("api", after)  # the config changed the URL
        clock.now += 45.0  # the old one idle 75 s, the new one 45 s
        assert await pool.get("api", after) is current
        await asyncio.sleep(0)  # the close runs as a task
        await asyncio.sleep(0)
        assert replaced.connector.state is ConnectorState.CLOSED
        assert current.connector.state is ConnectorState.STARTED
        assert pool.started == 1

        again = await pool.get("api", before)  # an old pipeline version's request
        assert again is not replaced
        assert again.connector.state is ConnectorState.STARTED
        assert pool.started == 2
    finally:
        await pool.close()
    assert current.connector.state is ConnectorState.CLOSED


async def test_a_source_with_an_attempt_in_flight_is_not_closed() -> None:
    clock = ManualClock()
    pool = SourcePool(idle_close_s=60.0, clock=clock)
    busy = await pool.get("api", Source(connector="http", base_url="http://127.0.0.1:1"))
    assert busy.admission is not None
    try:
        assert busy.admission.try_acquire() is not None  # an attempt holds a slot, as during a slow call
        clock.now += 120.0
        await pool.get("other", Source(connector="http", base_url="http://127.0.0.1:2"))
        await asyncio.sleep(0)
        assert busy.connector.state is ConnectorState.STARTED
        busy.admission.release()
    finally:
        await pool.close()
