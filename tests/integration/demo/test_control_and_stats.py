"""``/_control`` merges, validates and resets the knobs; ``/_stats`` counts the calls."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from devkit.demo import SERVICES, DemoServer, FaultSettings

pytestmark = pytest.mark.integration

HEALTHY = FaultSettings().model_dump()


async def test_control_lists_the_knobs_of_every_service(client: httpx.AsyncClient) -> None:
    knobs = (await client.get("/_control")).json()
    assert knobs == dict.fromkeys(SERVICES, HEALTHY)
    assert (await client.get("/_control/risk")).json() == HEALTHY


async def test_put_merges_the_body_into_the_current_knobs(client: httpx.AsyncClient) -> None:
    first = await client.put("/_control/crm", json={"latency_ms": 15})
    second = await client.put("/_control/crm", json={"error_rate": 0.25, "tail_factor": 3})
    assert first.json() == {**HEALTHY, "latency_ms": 15.0}
    assert second.json() == {**HEALTHY, "latency_ms": 15.0, "error_rate": 0.25, "tail_factor": 3.0}
    everything = (await client.get("/_control")).json()
    assert everything["crm"] == second.json()
    assert all(everything[s] == HEALTHY for s in SERVICES if s != "crm")


async def test_put_default_changes_every_service(client: httpx.AsyncClient) -> None:
    await client.put("/_control/risk", json={"error_rate": 0.5})
    response = await client.put("/_control/default", json={"latency_ms": 7})
    assert response.status_code == 200
    knobs = response.json()
    assert {s: knobs[s]["latency_ms"] for s in SERVICES} == dict.fromkeys(SERVICES, 7.0)
    assert knobs["risk"]["error_rate"] == 0.5


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"error_rate": 1.5}, 422, "error_rate"),
        ({"latency_ms": -1}, 422, "latency_ms"),
        ({"tail_factor": 0.5}, 422, "tail_factor"),
        ({"latency": 5}, 422, "latency"),  # unknown knob
        ([1, 2], 422, "JSON object"),
        ("not json", 422, "JSON object"),
    ],
)
async def test_put_rejects_bad_knobs_and_changes_nothing(
    client: httpx.AsyncClient, body: object, status: int, fragment: str
) -> None:
    if isinstance(body, str):
        response = await client.put("/_control/crm", content=body)
    else:
        response = await client.put("/_control/crm", json=body)
    assert response.status_code == status
    assert fragment in response.json()["error"]
    assert (await client.get("/_control/crm")).json() == HEALTHY


async def test_put_to_an_unknown_service_answers_404(client: httpx.AsyncClient) -> None:
    response = await client.put("/_control/billing", json={"down": True})
    assert response.status_code == 404
    assert "billing" in response.json()["error"]
    assert (await client.get("/_control/billing")).status_code == 404


async def test_delete_resets_to_the_start_knobs(
    start_demo: Callable[..., Awaitable[DemoServer]],
) -> None:
    start = {"default": {"latency_ms": 1}, "risk": {"error_rate": 0.1}}
    server = await start_demo(faults=start)
    async with httpx.AsyncClient(base_url=server.url) as client:
        initial = (await client.get("/_control")).json()
        assert initial["risk"] == {**HEALTHY, "latency_ms": 1.0, "error_rate": 0.1}
        assert initial["crm"] == {**HEALTHY, "latency_ms": 1.0}
        await client.put("/_control/default", json={"down": True, "jitter_ms": 3})
        reset = await client.delete("/_control")
        assert reset.json() == initial
        assert (await client.get("/crm/customers/C00001")).status_code == 200


async def test_stats_count_calls_errors_and_concurrency(client: httpx.AsyncClient) -> None:
    await client.put("/_control/crm", json={"latency_ms": 400})
    responses = await asyncio.gather(*(client.get("/crm/customers/C00001") for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    await client.put("/_control/risk", json={"error_rate": 1.0})
    for _ in range(3):
        await client.get("/risk/scores/A104729")
    await client.get("/loyalty/members/A104729")

    stats = (await client.get("/_stats")).json()
    assert stats["crm"] == {"calls": 20, "errors": 0, "in_flight": 0, "max_in_flight": 20}
    assert stats["risk"] == {"calls": 3, "errors": 3, "in_flight": 0, "max_in_flight": 1}
    assert stats["loyalty"]["calls"] == 1
    assert stats["orders"] == {"calls": 0, "errors": 0, "in_flight": 0, "max_in_flight": 0}


async def test_stats_ignore_health_control_and_unknown_paths(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/_control", "/_stats", "/elsewhere"):
        await client.get(path)
    stats = (await client.get("/_stats")).json()
    assert all(s["calls"] == 0 for s in stats.values())


async def test_stats_count_404s_and_401s_as_calls_not_errors(client: httpx.AsyncClient) -> None:
    await client.get("/crm/customers/C99999")
    await client.get("/orders/orders?account=A104729")  # no token
    stats = (await client.get("/_stats")).json()
    assert stats["crm"]["calls"] == stats["orders"]["calls"] == 1
    assert stats["crm"]["errors"] == stats["orders"]["errors"] == 0


async def test_delete_stats_zeroes_the_counters(client: httpx.AsyncClient) -> None:
    await client.put("/_control/crm", json={"error_rate": 1.0})
    for _ in range(4):
        await client.get("/crm/customers/C00001")
    reset = (await client.delete("/_stats")).json()
    assert reset == {s: {"calls": 0, "errors": 0, "in_flight": 0, "max_in_flight": 0} for s in SERVICES}
    assert (await client.get("/_stats")).json() == reset
