"""In-process workers for integration tests: a :class:`~streams.runtime.worker.Worker` on the test's event loop.

Running a worker in the test's process (rather than as a ``graphfetch worker`` child) lets a test
read its state: the connector agent's fetch gate, the adaptive history, the predicted paths.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from planner import Pipeline
from streams.runtime.agents import ConnectorAgent
from streams.runtime.worker import ROLES, Role, Worker
from streams.settings import Settings

READY_TIMEOUT_S = 30.0


@asynccontextmanager
async def running_worker(
    settings: Settings, *, pipelines: dict[str, Pipeline], roles: Sequence[Role] = ROLES
) -> AsyncIterator[Worker]:
    """A worker started on this loop, yielded once its agents run; stopped (drained) on exit."""
    worker = Worker(settings, pipelines=pipelines, roles=roles)
    job = asyncio.ensure_future(worker.run())
    try:
        ready = asyncio.ensure_future(worker.ready.wait())
        done, _ = await asyncio.wait(
            {ready, job}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            if job.done():
                job.result()  # the worker failed to start: raise its error
            raise AssertionError(f"the worker was not ready within {READY_TIMEOUT_S:g} s")
        yield worker
    finally:
        worker.stop()
        await asyncio.gather(job, return_exceptions=True)


def connector_agent(worker: Worker) -> ConnectorAgent:
    """The worker's connector agent (it must run the connector role)."""
    return next(agent for agent in worker.agents if isinstance(agent, ConnectorAgent))
