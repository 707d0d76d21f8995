"""The demo services over real HTTP: deterministic answers, 404s, the orders token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import httpx
import pytest

from devkit.demo import (
    DemoServer,
    account_id_for,
    customer,
    customer_id_for,
    loyalty_for,
    orders_for_account,
    risk_for,
    shipment_for,
    tickets_for,
)

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Bearer demo"}
SAMPLE = [customer_id_for(i) for i in (0, 1, 42, 777, 2_500, 4_999)]


def _snapshot(client: httpx.Client, customer_id: str) -> dict[str, object]:
    """Every endpoint's answer about one customer, its account and its orders."""
    account = account_id_for(customer_id)
    orders = client.get("/orders/orders", params={"account": account}, headers=AUTH).json()
    order_ids = [item["order_id"] for item in orders["items"]]
    return {
        "customer": client.get(f"/crm/customers/{customer_id}").json(),
        "orders": orders,
        "order": [client.get(f"/orders/orders/{o}", headers=AUTH).json() for o in order_ids],
        "shipments": [client.get(f"/shipping/shipments/{o}").json() for o in order_ids],
        "tickets": client.get("/support/tickets", params={"customer": customer_id}).json(),
        "loyalty": client.get(f"/loyalty/members/{account}").json(),
        "risk": client.get(f"/risk/scores/{account}", params={"orders": 3}).json(),
    }


def test_two_server_processes_serve_identical_data(spawn_demo: Callable[..., Any]) -> None:
    # Different hash seeds: nothing may depend on Python's salted hash().
    first = spawn_demo("--no-db", env={"PYTHONHASHSEED": "1"})
    second = spawn_demo("--no-db", env={"PYTHONHASHSEED": "2"})
    with httpx.Client(base_url=first.url) as a, httpx.Client(base_url=second.url) as b:
        for customer_id in SAMPLE:
            assert _snapshot(a, customer_id) == _snapshot(b, customer_id)


async def test_customer_matches_the_data_functions(client: httpx.AsyncClient) -> None:
    for customer_id in SAMPLE:
        response = await client.get(f"/crm/customers/{customer_id}")
        assert response.status_code == 200
        expected = customer(customer_id)
        assert expected is not None
        assert response.json() == asdict(expected)


async def test_orders_list_each_order_resolvable_to_its_customer(client: httpx.AsyncClient) -> None:
    customer_id = "C00042"
    account = account_id_for(customer_id)
    listing = (await client.get("/orders/orders", params={"account": account}, headers=AUTH)).json()
    expected = orders_for_account(account)
    assert listing["account_id"] == account
    assert listing["count"] == len(expected) == len(listing["items"])
    assert [item["order_id"] for item in listing["items"]] == [o.order_id for o in expected]
    assert listing["total_spent"] == round(sum(o.total for o in expected if o.status != "cancelled"), 2)
    for item in listing["items"]:
        detail = (await client.get(f"/orders/orders/{item['order_id']}", headers=AUTH)).json()
        assert detail["customer_id"] == customer_id
        assert detail["account_id"] == account
        assert {k: detail[k] for k in ("order_id", "placed_at", "total", "status")} == item
        assert detail["total"] == round(sum(line["qty"] * line["price"] for line in detail["items"]), 2)


async def test_order_counts_span_zero_to_eight(client: httpx.AsyncClient) -> None:
    counts = set()
    for index in range(60):
        account = account_id_for(customer_id_for(index))
        listing = await client.get("/orders/orders", params={"account": account}, headers=AUTH)
        counts.add(listing.json()["count"])
    assert min(counts) == 0
    assert max(counts) == 8


async def test_support_loyalty_risk_and_shipping_match_the_data_functions(
    client: httpx.AsyncClient,
) -> None:
    customer_id = "C00777"
    account = account_id_for(customer_id)
    tickets = (await client.get("/support/tickets", params={"customer": customer_id})).json()
    expected_tickets = tickets_for(customer_id)
    assert tickets["customer_id"] == customer_id
    assert tickets["items"] == [asdict(t) for t in expected_tickets]
    assert tickets["open"] == sum(t.status != "closed" for t in expected_tickets)

    loyalty = (await client.get(f"/loyalty/members/{account}")).json()
    assert loyalty == asdict(loyalty_for(account))
    assert loyalty["tier"] in {"none", "silver", "gold", "platinum"}

    for orders in (0, 3, 8):
        risk = (await client.get(f"/risk/scores/{account}", params={"orders": orders})).json()
        expected_risk = asdict(risk_for(account, orders=orders))
        assert risk == {**expected_risk, "reasons": list(expected_risk["reasons"])}
    own_count = len(orders_for_account(account))
    default_risk = (await client.get(f"/risk/scores/{account}")).json()
    assert default_risk["score"] == risk_for(account, orders=own_count).score

    for placed in orders_for_account(account):
        shipment = (await client.get(f"/shipping/shipments/{placed.order_id}")).json()
        assert shipment == asdict(shipment_for(placed))


@pytest.mark.parametrize(
    "path",
    [
        "/crm/customers/C05000",  # beyond the 5,000 served customers
        "/crm/customers/C42",  # malformed
        "/crm/customers/nobody",
        "/loyalty/members/A000000",  # no customer owns it
        "/risk/scores/not-an-account",
        "/shipping/shipments/O0000000",
        "/no/such/path",
    ],
)
async def test_unknown_ids_answer_404_with_a_json_error(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert "error" in response.json()


async def test_unknown_customer_message_is_customer_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/crm/customers/C99999")
    assert response.json() == {"error": "customer not found"}


async def test_unknown_order_is_404_even_with_a_well_formed_id(client: httpx.AsyncClient) -> None:
    account = next(
        a for a in (account_id_for(customer_id_for(i)) for i in range(100)) if len(orders_for_account(a)) < 8
    )
    missing = f"O{account[1:]}7"  # sequence 7 does not exist when the account has < 8 orders
    response = await client.get(f"/orders/orders/{missing}", headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"error": "order not found"}


async def test_customers_setting_bounds_the_served_ids(
    start_demo: Callable[..., Awaitable[DemoServer]],
) -> None:
    server = await start_demo(customers=10)
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/crm/customers/C00009")).status_code == 200
        assert (await client.get("/crm/customers/C00010")).status_code == 404
        account = account_id_for("C00010")
        listing = await client.get("/orders/orders", params={"account": account}, headers=AUTH)
        assert listing.json()["count"] == 0
        assert (await client.get(f"/loyalty/members/{account}")).status_code == 404


async def test_list_endpoints_answer_empty_for_unknown_keys(client: httpx.AsyncClient) -> None:
    orders = await client.get("/orders/orders", params={"account": "A999999x"}, headers=AUTH)
    assert orders.status_code == 200
    assert orders.json() == {"account_id": "A999999x", "count": 0, "total_spent": 0.0, "items": []}
    tickets = await client.get("/support/tickets", params={"customer": "C77777"})
    assert tickets.json() == {"customer_id": "C77777", "open": 0, "items": []}


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/orders/orders", AUTH),
        ("/support/tickets", {}),
        ("/risk/scores/A104729?orders=-1", {}),
        ("/risk/scores/A104729?orders=many", {}),
    ],
)
async def test_missing_or_bad_query_parameters_answer_400(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    response = await client.get(path, headers=headers)
    assert response.status_code == 400
    assert "error" in response.json()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "demo"}, {"Authorization": "Basic demo"}],
)
async def test_orders_endpoints_require_the_bearer_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    account = account_id_for("C00042")
    listing = await client.get("/orders/orders", params={"account": account}, headers=headers)
    detail = await client.get(f"/orders/orders/O{account[1:]}0", headers=headers)
    for response in (listing, detail):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert (await client.get(f"/orders/orders/O{account[1:]}0", headers=AUTH)).status_code == 200


async def test_token_setting_replaces_the_default_token(
    start_demo: Callable[..., Awaitable[DemoServer]],
) -> None:
    server = await start_demo(token="s3cret")
    async with httpx.AsyncClient(base_url=server.url) as client:
        params = {"account": account_id_for("C00001")}
        assert (await client.get("/orders/orders", params=params, headers=AUTH)).status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert (await client.get("/orders/orders", params=params, headers=good)).status_code == 200


async def test_healthz_answers_200(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
