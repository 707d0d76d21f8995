"""Each fault knob, set at run time over ``PUT /_control/{service}``, measured over real HTTP.

Delays are checked as lower bounds (a loaded machine only makes calls slower)
and outcomes are reproducible: the fault randomness is seeded. That a call is
*not* delayed is checked by order, never by a stopwatch: it answers while a
delayed call started before it is still in its delay of seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from devkit.demo import DemoServer

pytestmark = pytest.mark.integration

CUSTOMER = "/crm/customers/C00042"
DELAY_MS = 2000
DELAY_S = DELAY_MS / 1000


async def _set(client: httpx.AsyncClient, service: str, **knobs: object) -> None:
    response = await client.put(f"/_control/{service}", json=knobs)
    assert response.status_code == 200, response.text


async def _timed_get(client: httpx.AsyncClient, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    response = await client.get(path)
    return response.status_code, time.perf_counter() - started


async def test_latency_delays_every_call_of_the_service(client: httpx.AsyncClient) -> None:
    await _set(client, "crm", latency_ms=DELAY_MS)
    delayed = asyncio.create_task(_timed_get(client, CUSTOMER))
    # The knob is crm's alone: loyalty answers while crm's call, started first, is in its delay.
    other_service = await client.get("/loyalty/members/A437327")
    assert other_service.status_code == 200
    assert not delayed.done(), "loyalty answered after crm's delay: the knob delayed it too"
    status, slow = await delayed
    assert status == 200
    assert slow >= DELAY_S - 0.005


async def test_jitter_spreads_delays_within_the_range(client: httpx.AsyncClient) -> None:
    await _set(client, "crm", jitter_ms=400)
    timings = await asyncio.gather(*(_timed_get(client, CUSTOMER) for _ in range(12)))
    delays = sorted(elapsed for _, elapsed in timings)
    assert all(status == 200 for status, _ in timings)
    assert delays[-1] - delays[0] > 0.1  # twelve seeded draws of 0..400 ms are not all alike


async def test_error_rate_one_answers_every_call_503(client: httpx.AsyncClient) -> None:
    await _set(client, "crm", error_rate=1.0)
    responses = [await client.get(CUSTOMER) for _ in range(10)]
    assert {r.status_code for r in responses} == {503}
    assert responses[0].json() == {"error": "injected failure", "service": "crm"}
    assert (await client.get("/loyalty/members/A437327")).status_code == 200


async def test_error_rate_half_fails_about_half_the_calls(client: httpx.AsyncClient) -> None:
    await _set(client, "risk", error_rate=0.5)
    statuses = [(await client.get("/risk/scores/A437327")).status_code for _ in range(200)]
    assert set(statuses) == {200, 503}
    assert 70 <= statuses.count(503) <= 130


async def test_same_seed_makes_the_same_fault_decisions_after_reset(client: httpx.AsyncClient) -> None:
    async def run() -> list[int]:
        await client.delete("/_control")  # start knobs, draws start over
        await _set(client, "risk", error_rate=0.3)
        return [(await client.get("/risk/scores/A437327")).status_code for _ in range(40)]

    first = await run()
    assert first == await run()
    assert 503 in first


async def test_seed_setting_changes_the_fault_decisions(
    start_demo: Callable[..., Awaitable[DemoServer]],
) -> None:
    async def statuses(seed: int) -> list[int]:
        server = await start_demo(seed=seed, faults={"risk": {"error_rate": 0.5}})
        async with httpx.AsyncClient(base_url=server.url) as client:
            return [(await client.get("/risk/scores/A437327")).status_code for _ in range(30)]

    assert await statuses(1) == await statuses(1)
    assert await statuses(1) != await statuses(2)


async def test_down_answers_503_at_once_whatever_the_latency(client: httpx.AsyncClient) -> None:
    await _set(client, "orders", latency_ms=60_000, down=True)
    status, elapsed = await _timed_get(client, "/orders/orders?account=A437327")
    assert status == 503
    assert elapsed < 10.0, "the down service waited for its latency"  # a hang's bound, not a speed
    response = await client.get("/orders/orders?account=A437327")
    assert response.json() == {"error": "service down", "service": "orders"}
    await _set(client, "orders", down=False, latency_ms=0)
    ok = await client.get("/orders/orders/O4373274", headers={"Authorization": "Bearer demo"})
    assert ok.status_code == 200


async def test_hang_waits_hang_ms_then_answers(client: httpx.AsyncClient) -> None:
    await _set(client, "shipping", hang_rate=1.0, hang_ms=400)
    status, elapsed = await _timed_get(client, "/shipping/shipments/O4373274")
    assert status == 200
    assert elapsed >= 0.395


async def test_client_giving_up_on_a_hang_leaves_in_flight(
    client: httpx.AsyncClient, stats_eventually: Callable[..., Awaitable[dict[str, int]]]
) -> None:
    await _set(client, "crm", hang_rate=1.0, hang_ms=60_000)
    with pytest.raises(httpx.ReadTimeout):
        await client.get(CUSTOMER, timeout=0.3)
    stats = await stats_eventually(client, "crm", lambda s: s["in_flight"] == 0)
    assert stats == {"calls": 1, "errors": 0, "in_flight": 0, "max_in_flight": 1}


async def test_tail_multiplies_the_latency_of_every_tail_call(client: httpx.AsyncClient) -> None:
    await _set(client, "support", latency_ms=40, tail_rate=1.0, tail_factor=8)
    status, elapsed = await _timed_get(client, "/support/tickets?customer=C00042")
    assert status == 200
    assert elapsed >= 0.315


async def test_tail_rate_slows_only_a_share_of_calls(client: httpx.AsyncClient) -> None:
    await _set(client, "support", latency_ms=30, tail_rate=0.3, tail_factor=20)  # 30 ms or 600 ms
    timings = await asyncio.gather(
        *(_timed_get(client, "/support/tickets?customer=C00042") for _ in range(30))
    )
    slow = sum(elapsed >= 0.6 for _, elapsed in timings)
    assert 0 < slow < 30


async def _raw_get(url: str, path: str) -> bytes:
    """One HTTP/1.1 GET on its own connection; returns the status line.

    A plain asyncio client: httpx's pool spends O(n^2) time assigning hundreds of
    concurrent requests (measured: 100 at once take seconds), which would measure
    the client instead of the server.
    """
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return await reader.readline()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_hundreds_of_delayed_calls_are_served_concurrently(
    demo: DemoServer, client: httpx.AsyncClient
) -> None:
    # A delay long enough for a loaded machine to accept 400 connections within it.
    await _set(client, "crm", latency_ms=DELAY_MS)
    started = time.perf_counter()
    status_lines = await asyncio.gather(*(_raw_get(demo.url, CUSTOMER) for _ in range(500)))
    elapsed = time.perf_counter() - started
    print(
        f"\n500 calls of {DELAY_MS} ms at once: {elapsed:.2f} s (one at a time: {500 * DELAY_MS / 1000:g} s)"
    )
    assert set(status_lines) == {b"HTTP/1.1 200 OK\r\n"}
    stats = (await client.get("/_stats")).json()["crm"]
    assert stats["calls"] == 500
    # Concurrency as the server counts it, not a stopwatch: 400 or more were in their delay together.
    assert stats["max_in_flight"] >= 400


async def test_start_faults_apply_default_then_service_overrides(
    start_demo: Callable[..., Awaitable[DemoServer]],
) -> None:
    server = await start_demo(
        faults={"default": {"latency_ms": DELAY_MS}, "risk": {"error_rate": 1.0}, "crm": {"latency_ms": 0}}
    )
    async with httpx.AsyncClient(base_url=server.url) as client:
        risk = asyncio.create_task(_timed_get(client, "/risk/scores/A437327"))
        loyalty = asyncio.create_task(_timed_get(client, "/loyalty/members/A437327"))
        status, _ = await _timed_get(client, CUSTOMER)
        # crm's own latency (0) beats the default: crm answers while the two calls started before it
        # are still in the default's delay. An order with seconds to spare, not a stopwatch bound
        # that a loaded machine's stall could pass.
        assert (status, risk.done(), loyalty.done()) == (200, False, False)
        status, elapsed = await risk
        assert (status, elapsed >= DELAY_S - 0.005) == (503, True)
        status, elapsed = await loyalty
        assert (status, elapsed >= DELAY_S - 0.005) == (200, True)
