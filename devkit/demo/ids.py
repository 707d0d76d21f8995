"""Identifier formats of the demo data, and the pure maps between them.

============  ===================  ===========================================
id            shape                derived from
============  ===================  ===========================================
customer      ``C`` + 5 digits     its index: ``C00042`` is customer 42
account       ``A`` + 6 digits     the customer index, by an invertible map
order         ``O`` + 7 digits     account digits + order sequence (0..7)
ticket        ``T`` + 6 digits     customer digits + ticket sequence (0..4)
============  ===================  ===========================================

The account number is ``(index * 7919 + 104729) mod 10**6``: 7919 is prime and
coprime with ``10**6``, so the map is a bijection that can be run backwards.
Every account and order therefore resolves to its customer without a table.
"""

from __future__ import annotations

import re
from typing import Final

from devkit.demo.server_settings import MAX_CUSTOMERS

_CUSTOMER: Final = re.compile(r"C(\d{5})")
_ACCOUNT: Final = re.compile(r"A(\d{6})")
_ORDER: Final = re.compile(r"O(\d{6})(\d)")

_ACCOUNT_SPACE: Final = 1_000_000
_ACCOUNT_MULTIPLIER: Final = 7_919
_ACCOUNT_OFFSET: Final = 104_729
_ACCOUNT_INVERSE: Final = pow(_ACCOUNT_MULTIPLIER, -1, _ACCOUNT_SPACE)

MAX_ORDERS: Final = 8
"""Accounts have 0..8 orders, numbered 0..7 in their order ids."""


def customer_id_for(index: int) -> str:
    """The id of the customer at ``index`` (0-based): ``customer_id_for(42) == "C00042"``."""
    if not 0 <= index < MAX_CUSTOMERS:
        raise ValueError(f"customer index must be in 0..{MAX_CUSTOMERS - 1}, got {index}")
    return f"C{index:05d}"


def customer_index(customer_id: str) -> int | None:
    """The index of a well-formed customer id, ``None`` for anything else."""
    match = _CUSTOMER.fullmatch(customer_id)
    return int(match.group(1)) if match else None


def account_id_for(customer_id: str) -> str:
    """The account of a customer: ``A`` + 6 digits, unique per customer, the same everywhere."""
    index = customer_index(customer_id)
    if index is None:
        raise ValueError(f"customer id must look like C00042, got {customer_id!r}")
    number = (index * _ACCOUNT_MULTIPLIER + _ACCOUNT_OFFSET) % _ACCOUNT_SPACE
    return f"A{number:06d}"


def customer_id_for_account(account_id: str) -> str | None:
    """The customer owning ``account_id``, ``None`` when no customer id maps to it."""
    match = _ACCOUNT.fullmatch(account_id)
    if match is None:
        return None
    number = int(match.group(1))
    index = ((number - _ACCOUNT_OFFSET) * _ACCOUNT_INVERSE) % _ACCOUNT_SPACE
    return customer_id_for(index) if index < MAX_CUSTOMERS else None


def order_id_for(account_id: str, sequence: int) -> str:
    """The id of the ``sequence``-th order (0-based) of ``account_id``: ``O`` + 7 digits."""
    if not 0 <= sequence < MAX_ORDERS:
        raise ValueError(f"order sequence must be in 0..{MAX_ORDERS - 1}, got {sequence}")
    return f"O{account_id.removeprefix('A')}{sequence}"


def parse_order_id(order_id: str) -> tuple[str, int] | None:
    """``(account_id, sequence)`` of a well-formed order id, ``None`` for anything else."""
    match = _ORDER.fullmatch(order_id)
    if match is None:
        return None
    return f"A{match.group(1)}", int(match.group(2))


def ticket_id_for(customer_id: str, sequence: int) -> str:
    """The id of the ``sequence``-th support ticket of ``customer_id``: ``T`` + 6 digits."""
    return f"T{customer_id.removeprefix('C')}{sequence}"
