"""The demo data a server was started with: the first ``customers`` customers, nothing else.

:mod:`devkit.demo.data` answers for any well-formed id; this module says
"not found" for ids outside the served range, so ``C04999`` exists on a
server with 5,000 customers and ``C05000`` does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from devkit.demo import data
from devkit.demo.ids import customer_id_for_account, customer_index, parse_order_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    """Lookups over customers ``C00000`` .. ``customers - 1``."""

    customers: int

    def _serves_customer(self, customer_id: str | None) -> bool:
        index = None if customer_id is None else customer_index(customer_id)
        return index is not None and index < self.customers

    def _serves_account(self, account_id: str) -> bool:
        return self._serves_customer(customer_id_for_account(account_id))

    def customer(self, customer_id: str) -> data.Customer | None:
        return data.customer(customer_id) if self._serves_customer(customer_id) else None

    def orders(self, account_id: str) -> tuple[data.Order, ...]:
        """Orders of the account; empty (not an error) for an unknown account."""
        return data.orders_for_account(account_id) if self._serves_account(account_id) else ()

    def order(self, order_id: str) -> data.Order | None:
        parsed = parse_order_id(order_id)
        if parsed is None or not self._serves_account(parsed[0]):
            return None
        return data.order(order_id)

    def tickets(self, customer_id: str) -> tuple[data.Ticket, ...]:
        """Tickets of the customer; empty (not an error) for an unknown customer."""
        return data.tickets_for(customer_id) if self._serves_customer(customer_id) else ()

    def loyalty(self, account_id: str) -> data.Loyalty | None:
        return data.loyalty_for(account_id) if self._serves_account(account_id) else None

    def risk(self, account_id: str, *, orders: int | None) -> data.Risk | None:
        """Risk of the account given its order count (its own count when ``orders`` is None)."""
        if not self._serves_account(account_id):
            return None
        count = len(data.orders_for_account(account_id)) if orders is None else orders
        return data.risk_for(account_id, orders=count)

    def shipment(self, order_id: str) -> data.Shipment | None:
        found = self.order(order_id)
        return None if found is None else data.shipment_for(found)
