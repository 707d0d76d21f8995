"""Demo upstream services: deterministic fake CRM, orders, support, loyalty, risk, shipping.

One Starlette app on one port (default ``127.0.0.1:8700``) serves them all, so
the example pipelines, tests and benchmarks have real HTTP upstreams with
known answers and adjustable misbehaviour (latency, jitter, errors, hangs,
heavy tails, outages; see :class:`FaultSettings`), plus a SQL ``credit``
table (:func:`seed_database`).

=======================================  ======================================
endpoint                                 answers
=======================================  ======================================
``GET /crm/customers/{customer_id}``     customer, or 404
``GET /orders/orders?account=A…``        order summaries (bearer token)
``GET /orders/orders/{order_id}``        one order with lines (bearer token)
``GET /support/tickets?customer=C…``     tickets and how many are open
``GET /loyalty/members/{account_id}``    tier and points, or 404
``GET /risk/scores/{account_id}``        level, score, reasons (``?orders=n``)
``GET /shipping/shipments/{order_id}``   carrier, status, ETA, or 404
``GET /healthz``                         200 when serving
``/_control``, ``/_stats``               fault knobs and call counters
=======================================  ======================================

Every record is a pure function of its id (:mod:`devkit.demo.data`), so
tests elsewhere compute expected values with :func:`account_id_for`,
:func:`credit_score_for` and friends.
"""

from devkit.demo.app import create_app
from devkit.demo.command_line import main
from devkit.demo.data import (
    CREDIT_THRESHOLD,
    credit_score_for,
    customer,
    loyalty_for,
    order,
    orders_for_account,
    risk_for,
    shipment_for,
    tickets_for,
)
from devkit.demo.ids import account_id_for, customer_id_for, customer_id_for_account
from devkit.demo.seed import seed_database
from devkit.demo.server import DemoServer, DemoServerError, serve
from devkit.demo.server_settings import SERVICES, DemoSettings, FaultSettings

__all__ = [
    "CREDIT_THRESHOLD",
    "SERVICES",
    "DemoServer",
    "DemoServerError",
    "DemoSettings",
    "FaultSettings",
    "account_id_for",
    "create_app",
    "credit_score_for",
    "customer",
    "customer_id_for",
    "customer_id_for_account",
    "loyalty_for",
    "main",
    "order",
    "orders_for_account",
    "risk_for",
    "seed_database",
    "serve",
    "shipment_for",
    "tickets_for",
]
