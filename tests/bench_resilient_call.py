"""What one ``ResilientSource.call()`` costs on the null connector: the admission's fast path.

Run: ``python tests/bench_resilient_call.py [--calls N] [--limits JSON]``. Not a test
(pytest does not collect it). Two figures, each the best of ``--rounds`` rounds:

- **one at a time**: ``--calls`` calls in sequence, so a slot is always free (the fast
  path every fetch takes on a source that is not saturated);
- **64 at once, limit 8**: the same number of calls from 64 tasks against a limit of 8,
  each fetch suspending for a 1 us sleep, so most calls wait for a slot (the queue's path);
- **admission alone**: what taking a free slot and giving it back costs per attempt, without the
  rest of the call: the fixed limit's semaphore, and the adaptive limit's admission with the
  limit learning from the attempt. A difference of a few hundred nanoseconds is lost in the
  noise of the two figures above; here it is not.

CPU microseconds of this process per call (``time.process_time``: on a shared machine
wall time mostly measures the neighbours); compare figures taken minutes apart on one
machine, not across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from connectors import ResilientSource, RetryPolicy
from connectors.null import NullConnector

RETRY = RetryPolicy(retries=0)
REQUEST = {"value": 1}
YIELDING = {"value": 1, "sleep_ms": 0.001}
"""A fetch that suspends (a 1 us sleep), so that calls overlap and the limit fills up."""


async def _source(limits: dict[str, Any]) -> ResilientSource:
    connector = NullConnector(source="bench", settings={})
    await connector.start()
    return ResilientSource.from_settings(connector, {"limits": limits})


async def one_at_a_time(calls: int, limits: dict[str, Any]) -> float:
    source = await _source(limits)
    deadline = time.monotonic() + 3600.0
    started = time.process_time()
    for _ in range(calls):
        await source.call(REQUEST, timeout_ms=1_000.0, retry=RETRY, deadline=deadline)
    return (time.process_time() - started) / calls * 1e6


async def contended(calls: int, limits: dict[str, Any], *, tasks: int = 64) -> float:
    source = await _source({**limits, "max_concurrency": 8})
    deadline = time.monotonic() + 3600.0
    per_task = calls // tasks

    async def worker() -> None:
        for _ in range(per_task):
            await source.call(YIELDING, timeout_ms=1_000.0, retry=RETRY, deadline=deadline)

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return (time.process_time() - started) / (per_task * tasks) * 1e6


async def fixed_admission(calls: int) -> float:
    """A free slot of the fixed limit, as ResilientSource takes and returns it."""
    source = await _source({"adaptive": False})
    started = time.process_time()
    for _ in range(calls):
        await source._acquire_slot(None)
        source._release_slot()
    return (time.process_time() - started) / calls * 1e9


async def adaptive_admission(calls: int) -> float:
    """A free slot of the adaptive limit, the attempt's latency recorded, the slot returned."""
    source = await _source({})
    admission = source.admission
    assert admission is not None
    started = time.process_time()
    for _ in range(calls):
        ticket = admission.try_acquire()
        assert ticket is not None
        admission.record(ticket, 1.0)
        admission.release()
    return (time.process_time() - started) / calls * 1e9


async def main(calls: int, rounds: int, limits: dict[str, Any]) -> None:
    alone = min([await one_at_a_time(calls, limits) for _ in range(rounds)])
    crowd = min([await contended(calls, limits) for _ in range(rounds)])
    print(f"limits {json.dumps(limits)}: {calls} calls, best of {rounds} rounds")
    print(f"  one at a time:       {alone:6.2f} us CPU a call")
    print(f"  64 at once, limit 8: {crowd:6.2f} us CPU a call")
    fixed = min([await fixed_admission(10 * calls) for _ in range(rounds)])
    adaptive = min([await adaptive_admission(10 * calls) for _ in range(rounds)])
    print(f"  admission alone:     fixed {fixed:.0f} ns, adaptive {adaptive:.0f} ns an attempt")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls per round (default 100000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best is reported (default 3)")
    parser.add_argument("--limits", default="{}", help="the source's limits: settings, as JSON")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds, json.loads(args.limits)))
