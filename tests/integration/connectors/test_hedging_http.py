"""Hedged requests against a real HTTP upstream with a heavy tail: 5% of answers take 10x longer.

The upstream is a bare ASGI app under uvicorn (its own thread and loop). It
draws each request's latency from a seeded generator, and it tells apart the
requests it answered from those whose client hung up while it was still
"working" -- which is how a cancelled losing leg looks from the server.
How far hedging cuts the p99 is a benchmark figure (``graphfetch bench``, table
"Hedging"); here, what hedging does: a hedge goes out only after its delay, a
slow answer is abandoned for its hedge's, the losers hang up, and the budget
bounds the extra load. None of it depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from connectors import AttemptEvent, BreakerState, HedgeBudget, HedgePlan, ResilientSource, RetryPolicy
from connectors.http import HttpConnector
from tests.support.asgi import serve_in_thread, serve_lifespan

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BASE_MS = 20.0
TAIL_FACTOR = 10.0
TAIL_RATE = 0.05
CALLS = 300
CONCURRENCY = 4
HEDGE_AFTER_MS = 3 * BASE_MS  # well above a normal answer, well below a tail one
TAIL_MS = BASE_MS * TAIL_FACTOR


@dataclass
class TailServer:
    """Counts per run (a path segment), shared between the server thread and the test."""

    base_url: str
    received: dict[str, int] = field(default_factory=dict)
    answered: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    slow_dropped: dict[str, int] = field(default_factory=dict)
    """Tail draws whose client hung up before the answer: a hedge answered the call first."""
    in_flight: dict[str, int] = field(default_factory=dict)
    rngs: dict[str, random.Random] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def begin(self, run: str) -> bool:
        """Count a request in and draw whether it gets a tail answer."""
        with self.changed:
            self.received[run] = self.received.get(run, 0) + 1
            self.in_flight[run] = self.in_flight.get(run, 0) + 1
            rng = self.rngs.setdefault(run, random.Random(run))
            return rng.random() < TAIL_RATE

    def end(self, run: str, *, answered: bool, slow: bool) -> None:
        with self.changed:
            counts = self.answered if answered else self.dropped
            counts[run] = counts.get(run, 0) + 1
            if slow and not answered:
                self.slow_dropped[run] = self.slow_dropped.get(run, 0) + 1
            self.in_flight[run] -= 1
            self.changed.notify_all()

    def wait_idle(self, run: str, timeout: float = 5.0) -> bool:
        """Block until no request of ``run`` is being served (dropped ones take a moment to be noticed)."""
        with self.changed:
            return self.changed.wait_for(lambda: self.in_flight.get(run, 0) == 0, timeout=timeout)


def build_app(server: TailServer, started: threading.Event) -> Any:
    async def disconnected(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send, started)
            return
        run = scope["path"].rsplit("/", 1)[-1]
        slow = server.begin(run)
        work = asyncio.ensure_future(asyncio.sleep((TAIL_MS if slow else BASE_MS) / 1000.0))
        hang_up = asyncio.ensure_future(disconnected(receive))
        await asyncio.wait({work, hang_up}, return_when=asyncio.FIRST_COMPLETED)
        if hang_up.done():
            work.cancel()
            server.end(run, answered=False, slow=slow)
            return
        hang_up.cancel()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"ok": true}'})
        server.end(run, answered=True, slow=slow)

    return app


@pytest.fixture(scope="module")
def tail_server() -> Iterator[TailServer]:
    state = TailServer(base_url="")
    with serve_in_thread(lambda started: build_app(state, started), name="tail server", backlog=256) as port:
        state.base_url = f"http://127.0.0.1:{port}"
        yield state


@pytest.fixture
async def source(tail_server: TailServer) -> AsyncIterator[ResilientSource]:
    """A breaker that opens on ONE counted failure: a cancelled loser counted as a failure would trip it."""
    settings = {"base_url": tail_server.base_url, "breaker": {"failure_threshold": 1, "reset_timeout_s": 60}}
    async with HttpConnector(source="orders", settings=settings) as connector:
        yield ResilientSource.from_settings(connector, settings)


@dataclass
class Run:
    latencies_ms: list[float]
    events: list[AttemptEvent]

    def p99(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[int(0.99 * (len(ordered) - 1))]

    def count(self, kind: str, reason: str | None = None) -> int:
        return sum(1 for e in self.events if e.kind == kind and (reason is None or e.reason == reason))


async def drive(source: ResilientSource, run: str, plan: HedgePlan | None) -> Run:
    """``CALLS`` fetches, ``CONCURRENCY`` at a time; latency as the caller sees it."""
    result = Run(latencies_ms=[], events=[])
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with gate:
            started = time.monotonic()
            await source.call(
                {"path": f"/tail/{run}"},
                timeout_ms=5000,
                retry=RetryPolicy(retries=0),
                observer=result.events.append,
                hedge=plan,
            )
            result.latencies_ms.append((time.monotonic() - started) * 1000.0)

    await asyncio.gather(*(one() for _ in range(CALLS)))
    return result


async def test_hedges_rescue_tail_answers_within_budget_and_cancel_losers(
    source: ResilientSource, tail_server: TailServer
) -> None:
    plain = await drive(source, "plain", None)
    budget = HedgeBudget(ratio=0.05, burst=2)
    hedged = await drive(source, "hedged", HedgePlan(after_ms=HEDGE_AFTER_MS, budget=budget))
    assert await asyncio.to_thread(tail_server.wait_idle, "hedged")

    print(f"\np99 {plain.p99():.0f} ms without hedging, {hedged.p99():.0f} ms with (a figure, not asserted)")
    # Without hedging every tail draw is waited out (a slower machine only adds to a call).
    assert plain.p99() >= TAIL_MS
    assert tail_server.slow_dropped.get("plain", 0) == 0

    # The rescue: a hedge goes out only once its call has waited the delay, and tail answers were
    # abandoned because the hedge answered first.
    waited = [e.delay_ms or 0.0 for e in hedged.events if e.kind == "hedge_started"]
    assert waited
    assert min(waited) >= HEDGE_AFTER_MS - 1.0, waited
    assert tail_server.slow_dropped.get("hedged", 0) > 0

    # The load: extra requests stay within the budget (a hedge cancelled before it was sent never arrives).
    extra = tail_server.received["hedged"] - CALLS
    assert budget.hedges == hedged.count("hedge_started")
    assert 0 < extra <= budget.hedges <= budget.burst + budget.ratio * CALLS
    assert hedged.count("hedge_refused") == budget.refused

    # The losers: cancelled legs hang up on the server instead of being answered.
    cancelled = hedged.count("hedge_won", "cancelled") + hedged.count("hedge_lost", "cancelled")
    assert hedged.count("hedge_won") > 0
    assert tail_server.dropped.get("hedged", 0) > 0
    assert tail_server.dropped.get("hedged", 0) <= cancelled
    assert tail_server.answered["hedged"] + tail_server.dropped["hedged"] == tail_server.received["hedged"]
    assert tail_server.answered["hedged"] < tail_server.received["hedged"]

    # The breaker: cancelled losers are not failures, so a threshold of one never opened it.
    assert source.breaker.state is BreakerState.CLOSED
    assert source.breaker.consecutive_failures == 0
    assert hedged.count("breaker_rejected") == 0
