"""Deterministic demo records: every value is a pure function of an id.

Values come from SHA-256 of the id and a purpose label, never from Python's
salted ``hash()`` or a clock, so every process, run and machine serves the
same customers, orders and scores, and tests elsewhere can compute what to
expect with these functions. Generated records are frozen and cached
(bounded), so serving them costs no recomputation.

Functions here accept any well-formed id; whether the id belongs to the
customers a server was started with is :mod:`devkit.demo.served_catalog`'s concern.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final

from devkit.demo.ids import (
    MAX_ORDERS,
    account_id_for,
    customer_id_for_account,
    customer_index,
    order_id_for,
    parse_order_id,
    ticket_id_for,
)

_CACHE_SIZE: Final = 8_192

_FIRST_NAMES: Final = (
    "Ada", "Alan", "Barbara", "Carlos", "Chen", "Dana", "Elif", "Farid", "Grace", "Hiro",
    "Ines", "Jonas", "Kemal", "Lena", "Malik", "Nora", "Olu", "Priya", "Quentin", "Rosa",
    "Sven", "Tara", "Umar", "Vera", "Wei", "Yara", "Zoe",
)  # fmt: skip
_LAST_NAMES: Final = (
    "Almeida", "Brown", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hopper",
    "Ibrahim", "Jansen", "Kowalski", "Lovelace", "Moreau", "Nakamura", "Okafor", "Petrov",
    "Quinn", "Rossi", "Schmidt", "Tanaka", "Uddin", "Varga", "Wagner", "Yilmaz", "Zhang",
)  # fmt: skip
_COUNTRIES: Final = ("DE", "FR", "NL", "ES", "IT", "GB", "US", "PL", "SE", "JP")
_SEGMENTS: Final = (("retail", 0.6), ("smb", 0.3), ("enterprise", 0.1))
_ORDER_STATUSES: Final = (
    ("delivered", 0.6), ("shipped", 0.15), ("processing", 0.1), ("cancelled", 0.08),
    ("returned", 0.07),
)  # fmt: skip
_PRODUCTS: Final = (  # sku, price in cents
    ("SKU-1001", 1_299), ("SKU-1002", 2_499), ("SKU-1003", 499), ("SKU-1004", 8_999),
    ("SKU-1005", 15_900), ("SKU-1006", 3_450), ("SKU-1007", 999), ("SKU-1008", 42_000),
    ("SKU-1009", 6_750), ("SKU-1010", 1_980), ("SKU-1011", 27_500), ("SKU-1012", 349),
)  # fmt: skip
_TICKET_SUBJECTS: Final = (
    "Where is my order?", "Refund not received", "Cannot log in", "Wrong item delivered",
    "Change delivery address", "Invoice request", "Damaged package", "Cancel subscription",
)  # fmt: skip
_TICKET_STATUSES: Final = (("open", 0.25), ("pending", 0.15), ("closed", 0.6))
_CARRIERS: Final = ("DHL", "UPS", "FedEx", "PostNL", "GLS")
_SHIPMENT_STATUS: Final = {
    "delivered": "delivered",
    "shipped": "in_transit",
    "processing": "label_created",
    "cancelled": "cancelled",
    "returned": "returned",
}
_TIERS: Final = ((12_000, "platinum"), (5_000, "gold"), (1_000, "silver"), (0, "none"))
_FIRST_SINCE: Final = date(2015, 1, 1)
_LAST_SINCE: Final = date(2024, 12, 31)
_LAST_ORDER: Final = date(2025, 12, 31)
_RECENT_SINCE: Final = "2024-01-01"  # ISO dates compare as strings
_CREDIT_UPDATED_FROM: Final = datetime(2025, 1, 1, tzinfo=UTC)

CREDIT_THRESHOLD: Final = 650
"""Scores below this are "poor": about 30 % of accounts, and a risk reason."""


def _digest(*parts: str) -> int:
    """64 well-mixed bits from the parts; the same on every machine and run."""
    data = "\x1f".join(parts).encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big")


def _unit(*parts: str) -> float:
    """A number in [0, 1) drawn deterministically from the parts."""
    return _digest(*parts) / 2**64


def _between(low: int, high: int, *parts: str) -> int:
    """An integer in ``low..high`` (both included) drawn deterministically from the parts."""
    return low + _digest(*parts) % (high - low + 1)


def _weighted(options: tuple[tuple[str, float], ...], *parts: str) -> str:
    """One of ``options`` (value, weight; weights sum to 1) drawn deterministically."""
    point = _unit(*parts)
    for value, weight in options:
        point -= weight
        if point < 0:
            return value
    return options[-1][0]


def _day(first: date, last: date, *parts: str) -> date:
    return first + timedelta(days=_between(0, (last - first).days, *parts))


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(cents: int) -> float:
    return round(cents / 100, 2)


@dataclass(frozen=True, slots=True, kw_only=True)
class Customer:
    """A CRM customer, as ``GET /crm/customers/{customer_id}`` returns it."""

    customer_id: str
    name: str
    email: str
    account_id: str
    segment: str
    country: str
    since: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderLine:
    sku: str
    qty: int
    price: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """An order with its lines, as ``GET /orders/orders/{order_id}`` returns it."""

    order_id: str
    account_id: str
    customer_id: str
    total: float
    status: str
    placed_at: str
    items: tuple[OrderLine, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticket:
    ticket_id: str
    subject: str
    status: str
    opened_at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Loyalty:
    account_id: str
    tier: str
    points: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Risk:
    account_id: str
    level: str
    score: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Shipment:
    order_id: str
    carrier: str
    status: str
    eta: str


@lru_cache(maxsize=_CACHE_SIZE)
def customer(customer_id: str) -> Customer | None:
    """The customer with this id, ``None`` when the id is malformed."""
    index = customer_index(customer_id)
    if index is None:
        return None
    first = _FIRST_NAMES[_digest(customer_id, "first") % len(_FIRST_NAMES)]
    last = _LAST_NAMES[_digest(customer_id, "last") % len(_LAST_NAMES)]
    return Customer(
        customer_id=customer_id,
        name=f"{first} {last}",
        email=f"{first.lower()}.{last.lower()}.{index}@example.com",
        account_id=account_id_for(customer_id),
        segment=_weighted(_SEGMENTS, customer_id, "segment"),
        country=_COUNTRIES[_digest(customer_id, "country") % len(_COUNTRIES)],
        since=customer_id_since(customer_id),
    )


@lru_cache(maxsize=_CACHE_SIZE)
def orders_for_account(account_id: str) -> tuple[Order, ...]:
    """The orders of an account, newest first; empty when no customer owns the account."""
    customer_id = customer_id_for_account(account_id)
    if customer_id is None:
        return ()
    count = _between(0, MAX_ORDERS, account_id, "orders")
    orders = (_order(account_id, customer_id, sequence) for sequence in range(count))
    return tuple(sorted(orders, key=lambda order: order.placed_at, reverse=True))


def _order(account_id: str, customer_id: str, sequence: int) -> Order:
    order_id = order_id_for(account_id, sequence)
    since = date.fromisoformat(customer_id_since(customer_id))
    placed_day = _day(since, _LAST_ORDER, order_id, "day")
    placed_at = datetime(placed_day.year, placed_day.month, placed_day.day, tzinfo=UTC)
    placed_at += timedelta(seconds=_between(0, 86_399, order_id, "second"))
    lines: list[OrderLine] = []
    total_cents = 0
    for line in range(_between(1, 4, order_id, "lines")):
        sku, cents = _PRODUCTS[_digest(order_id, "sku", str(line)) % len(_PRODUCTS)]
        qty = _between(1, 3, order_id, "qty", str(line))
        lines.append(OrderLine(sku=sku, qty=qty, price=_money(cents)))
        total_cents += qty * cents
    return Order(
        order_id=order_id,
        account_id=account_id,
        customer_id=customer_id,
        total=_money(total_cents),
        status=_weighted(_ORDER_STATUSES, order_id, "status"),
        placed_at=_timestamp(placed_at),
        items=tuple(lines),
    )


def customer_id_since(customer_id: str) -> str:
    """The ``since`` date of a well-formed customer id (ISO date)."""
    return _day(_FIRST_SINCE, _LAST_SINCE, customer_id, "since").isoformat()


def order(order_id: str) -> Order | None:
    """The order with this id, ``None`` when malformed or beyond its account's orders."""
    parsed = parse_order_id(order_id)
    if parsed is None:
        return None
    account_id, _ = parsed
    return next((o for o in orders_for_account(account_id) if o.order_id == order_id), None)


def total_spent(orders: tuple[Order, ...]) -> float:
    """What the orders cost, cancelled ones excluded."""
    cents = sum(round(o.total * 100) for o in orders if o.status != "cancelled")
    return _money(cents)


@lru_cache(maxsize=_CACHE_SIZE)
def tickets_for(customer_id: str) -> tuple[Ticket, ...]:
    """The support tickets of a customer, newest first; empty for a malformed id."""
    if customer_index(customer_id) is None:
        return ()
    since = date.fromisoformat(customer_id_since(customer_id))
    tickets = []
    for sequence in range(_between(0, 4, customer_id, "tickets")):
        ticket_id = ticket_id_for(customer_id, sequence)
        opened = _day(since, _LAST_ORDER, ticket_id, "opened")
        opened_at = datetime(opened.year, opened.month, opened.day, tzinfo=UTC)
        opened_at += timedelta(seconds=_between(0, 86_399, ticket_id, "second"))
        tickets.append(
            Ticket(
                ticket_id=ticket_id,
                subject=_TICKET_SUBJECTS[_digest(ticket_id, "subject") % len(_TICKET_SUBJECTS)],
                status=_weighted(_TICKET_STATUSES, ticket_id, "status"),
                opened_at=_timestamp(opened_at),
            )
        )
    return tuple(sorted(tickets, key=lambda ticket: ticket.opened_at, reverse=True))


def loyalty_for(account_id: str) -> Loyalty:
    """Points skewed towards few (squared uniform), tier by points thresholds."""
    points = int(_unit(account_id, "points") ** 2 * 20_000)
    tier = next(name for floor, name in _TIERS if points >= floor)
    return Loyalty(account_id=account_id, tier=tier, points=points)


def credit_score_for(account_id: str) -> int:
    """The credit score of an account, 300..850; about 30 % fall below 650."""
    if _unit(account_id, "credit-band") < 0.3:
        return _between(300, CREDIT_THRESHOLD - 1, account_id, "credit")
    return _between(CREDIT_THRESHOLD, 850, account_id, "credit")


def credit_updated_at(account_id: str) -> str:
    """When the warehouse last updated the score (a moment in 2025)."""
    offset = timedelta(seconds=_between(0, 365 * 86_400 - 1, account_id, "credit-updated"))
    return _timestamp(_CREDIT_UPDATED_FROM + offset)


def risk_for(account_id: str, *, orders: int) -> Risk:
    """A risk score 0..100 from the account and its order count, with the reasons that raised it.

    Level: ``low`` below 40, ``medium`` below 70, ``high`` from 70.
    """
    score = _between(0, 45, account_id, "risk")
    reasons: list[str] = []
    if credit_score_for(account_id) < CREDIT_THRESHOLD:
        score += 30
        reasons.append(f"credit score below {CREDIT_THRESHOLD}")
    if orders == 0:
        score += 15
        reasons.append("no order history")
    elif orders >= 6:
        score += 10
        reasons.append("high order volume")
    customer_id = customer_id_for_account(account_id)
    if customer_id is not None and customer_id_since(customer_id) >= _RECENT_SINCE:
        score += 10
        reasons.append(f"recent customer (since {_RECENT_SINCE} or later)")
    score = min(score, 100)
    level = "low" if score < 40 else "medium" if score < 70 else "high"
    return Risk(account_id=account_id, level=level, score=score, reasons=tuple(reasons))


def shipment_for(order: Order) -> Shipment:
    """The shipment of an order: carrier by hash, status from the order, ETA 2..7 days later."""
    placed = date.fromisoformat(order.placed_at[:10])
    eta = placed + timedelta(days=_between(2, 7, order.order_id, "eta"))
    return Shipment(
        order_id=order.order_id,
        carrier=_CARRIERS[_digest(order.order_id, "carrier") % len(_CARRIERS)],
        status=_SHIPMENT_STATUS[order.status],
        eta=eta.isoformat(),
    )
