"""The Starlette app of the demo upstreams: six services, health, control and stats.

See the endpoint table in the package docstring. Services are the first path
segment (``crm``, ``orders``, ...); :class:`~devkit.demo.middleware.FaultMiddleware`
applies each service's fault knobs and counts its calls.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Mapping
from dataclasses import asdict

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devkit.demo.call_counts import StatsBook
from devkit.demo.control import control_routes
from devkit.demo.data import Order, total_spent
from devkit.demo.faults import FaultInjector
from devkit.demo.middleware import FaultMiddleware
from devkit.demo.served_catalog import Catalog
from devkit.demo.server_settings import DemoSettings


def _error(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


_CUSTOMER_NOT_FOUND = "customer not found"
_ACCOUNT_NOT_FOUND = "account not found"
_ORDER_NOT_FOUND = "order not found"


class _Upstreams:
    """The endpoints of the six demo services over one catalog."""

    def __init__(self, *, catalog: Catalog, token: str) -> None:
        self._catalog = catalog
        self._expected_authorization = f"Bearer {token}".encode()

    def _authorized(self, request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, self._expected_authorization)

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def customer(self, request: Request) -> JSONResponse:
        found = self._catalog.customer(request.path_params["customer_id"])
        if found is None:
            return _error(404, _CUSTOMER_NOT_FOUND)
        return JSONResponse(asdict(found))

    async def orders(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _unauthorized()
        account_id = request.query_params.get("account")
        if account_id is None:
            return _error(400, "query parameter 'account' is required")
        orders = self._catalog.orders(account_id)
        return JSONResponse(
            {
                "account_id": account_id,
                "count": len(orders),
                "total_spent": total_spent(orders),
                "items": [_order_summary(o) for o in orders],
            }
        )

    async def order(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _unauthorized()
        found = self._catalog.order(request.path_params["order_id"])
        if found is None:
            return _error(404, _ORDER_NOT_FOUND)
        return JSONResponse(asdict(found))

    async def tickets(self, request: Request) -> JSONResponse:
        customer_id = request.query_params.get("customer")
        if customer_id is None:
            return _error(400, "query parameter 'customer' is required")
        tickets = self._catalog.tickets(customer_id)
        return JSONResponse(
            {
                "customer_id": customer_id,
                "open": sum(t.status != "closed" for t in tickets),
                "items": [asdict(t) for t in tickets],
            }
        )

    async def loyalty(self, request: Request) -> JSONResponse:
        found = self._catalog.loyalty(request.path_params["account_id"])
        if found is None:
            return _error(404, _ACCOUNT_NOT_FOUND)
        return JSONResponse(asdict(found))

    async def risk(self, request: Request) -> JSONResponse:
        raw_orders = request.query_params.get("orders")
        orders = None
        if raw_orders is not None:
            if not raw_orders.isdigit():
                return _error(400, "query parameter 'orders' must be a non-negative integer")
            orders = int(raw_orders)
        found = self._catalog.risk(request.path_params["account_id"], orders=orders)
        if found is None:
            return _error(404, _ACCOUNT_NOT_FOUND)
        return JSONResponse(asdict(found))

    async def shipment(self, request: Request) -> JSONResponse:
        found = self._catalog.shipment(request.path_params["order_id"])
        if found is None:
            return _error(404, _ORDER_NOT_FOUND)
        return JSONResponse(asdict(found))


def _order_summary(order: Order) -> dict[str, object]:
    return {
        "order_id": order.order_id,
        "placed_at": order.placed_at,
        "total": order.total,
        "status": order.status,
    }


def _unauthorized() -> JSONResponse:
    return _error(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})


async def _http_error(request: Request, exc: Exception) -> Response:
    """Router errors (unknown path, wrong method) as JSON like every other answer."""
    if not isinstance(exc, HTTPException):
        raise exc
    return _error(exc.status_code, exc.detail, headers=exc.headers)


def create_app(settings: DemoSettings, *, closing: asyncio.Event | None = None) -> Starlette:
    """The demo upstreams as one ASGI app.

    ``closing``, once set, answers delayed calls 503 at once so a server can
    shut down without waiting for injected hangs; :class:`DemoServer` sets it.
    """
    upstreams = _Upstreams(
        catalog=Catalog(customers=settings.customers), token=settings.token.get_secret_value()
    )
    faults = FaultInjector(settings)
    stats = StatsBook()
    routes = [
        Route("/healthz", upstreams.health, methods=["GET"]),
        Route("/crm/customers/{customer_id}", upstreams.customer, methods=["GET"]),
        Route("/orders/orders", upstreams.orders, methods=["GET"]),
        Route("/orders/orders/{order_id}", upstreams.order, methods=["GET"]),
        Route("/support/tickets", upstreams.tickets, methods=["GET"]),
        Route("/loyalty/members/{account_id}", upstreams.loyalty, methods=["GET"]),
        Route("/risk/scores/{account_id}", upstreams.risk, methods=["GET"]),
        Route("/shipping/shipments/{order_id}", upstreams.shipment, methods=["GET"]),
        *control_routes(faults=faults, stats=stats),
    ]
    middleware = [Middleware(FaultMiddleware, faults=faults, stats=stats, closing=closing or asyncio.Event())]
    return Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: _http_error})
