"""A source's concurrency defaults to its connector's own pool bound, so callers queue outside attempts."""

from __future__ import annotations

from planner import Source
from streams.engine.sources import SourcePool


async def test_sql_concurrency_defaults_to_its_pool_size_and_limits_override_it() -> None:
    pool = SourcePool()
    try:
        default = await pool.get(
            "db", Source(connector="sql", dsn="sqlite+aiosqlite:///:memory:", pool_size=3)
        )
        explicit = await pool.get(
            "db2",
            Source(
                connector="sql",
                dsn="sqlite+aiosqlite:///:memory:",
                pool_size=3,
                limits={"max_concurrency": 7},
            ),
        )
        http = await pool.get("api", Source(connector="http", base_url="http://127.0.0.1:1"))
    finally:
        await pool.close()
    assert default.max_concurrency == 3
    assert explicit.max_concurrency == 7
    assert http.max_concurrency == 32  # no pool bound of its own: the generic default


async def test_the_pool_reports_each_started_sources_current_limit_for_the_gauge() -> None:
    pool = SourcePool()
    try:
        adaptive = await pool.get("api", Source(connector="http", base_url="http://127.0.0.1:1"))
        await pool.get(
            "fixed",
            Source(connector="http", base_url="http://127.0.0.1:2", limits={"adaptive": False}),
        )
        reported = {attributes["graphfetch.source"]: value for value, attributes in pool.limits()}
        assert reported == {"api": 4.0, "fixed": 32.0}
        assert adaptive.admission is not None
        adaptive.admission.limit.limit = 9  # as a window near the no-load latency would leave it
        assert (9.0, "api") in {(v, a["graphfetch.source"]) for v, a in pool.limits()}
    finally:
        await pool.close()
    assert pool.limits() == []
