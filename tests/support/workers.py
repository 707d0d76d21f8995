"""In-process workers for integration tests: a :class:`~streams.runtime.worker.Worker` on the test's event loop.

Running a worker in the test's process (rather than as a ``graphfetch worker`` child) lets a test
read its state: the connector agent's fetch gate, the adaptive history, the predicted paths.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml

from planner import Pipeline
from streams.liveconfig.catalog import load_catalog
from streams.runtime.agents import ConnectorAgent
from streams.runtime.worker import ROLES, Role, Worker
from streams.settings import Settings
from tests.support.waiting import until

READY_TIMEOUT_S = 30.0


def pipeline_folder(tmp_path: Path, document: dict[str, Any]) -> tuple[Path, dict[str, Pipeline]]:
    """A configs folder holding ``document`` as its one pipeline, and that folder's pipelines loaded."""
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / f"{document['pipeline']}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return folder, load_catalog([folder])


async def start(worker: Worker, *, timeout_s: float) -> asyncio.Future[None]:
    """Run ``worker`` on this loop; return its job once its agents run (raise its error if it failed
    to start). Stop it with ``worker.stop()`` and await the job."""
    job = asyncio.ensure_future(worker.run())
    await until(
        lambda: worker.ready.is_set() or job.done(), timeout_s=timeout_s, what=f"worker {worker.worker_id}"
    )
    if job.done():
        job.result()
        raise AssertionError(f"worker {worker.worker_id} ended as it started")
    return job


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
