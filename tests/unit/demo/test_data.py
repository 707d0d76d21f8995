"""The deterministic demo data: id maps, records and their invariants, pinned values."""

from __future__ import annotations

from collections import Counter

import pytest

from devkit.demo import (
    CREDIT_THRESHOLD,
    account_id_for,
    credit_score_for,
    customer,
    customer_id_for,
    customer_id_for_account,
    loyalty_for,
    order,
    orders_for_account,
    risk_for,
    shipment_for,
    tickets_for,
)
from devkit.demo.data import Customer, credit_updated_at, total_spent
from devkit.demo.ids import customer_index, order_id_for, parse_order_id

ALL_CUSTOMERS = [customer_id_for(i) for i in range(5_000)]
ALL_ACCOUNTS = [account_id_for(c) for c in ALL_CUSTOMERS]


def test_pinned_values_never_change() -> None:
    # Other tests, configs and benchmarks rely on these; changing them is a breaking change.
    assert customer("C00042") == Customer(
        customer_id="C00042",
        name="Yara Costa",
        email="yara.costa.42@example.com",
        account_id="A437327",
        segment="smb",
        country="GB",
        since="2020-08-11",
    )
    assert account_id_for("C00000") == "A104729"
    assert account_id_for("C04999") == "A691810"
    assert credit_score_for("A437327") == 652
    assert credit_updated_at("A437327") == "2025-12-25T00:58:12Z"
    assert [o.order_id for o in orders_for_account("A437327")][:3] == ["O4373274", "O4373271", "O4373270"]
    assert loyalty_for("A437327").tier == "platinum"


@pytest.mark.parametrize(("index", "expected"), [(0, "C00000"), (42, "C00042"), (99_999, "C99999")])
def test_customer_ids_are_five_digits_zero_padded(index: int, expected: str) -> None:
    assert customer_id_for(index) == expected
    assert customer_index(expected) == index


@pytest.mark.parametrize("bad", ["C42", "c00042", "C000042", "C0004x", " C00042", "A00042", ""])
def test_malformed_customer_ids_have_no_index_and_no_customer(bad: str) -> None:
    assert customer_index(bad) is None
    assert customer(bad) is None
    assert tickets_for(bad) == ()


def test_account_ids_are_unique_and_map_back_to_their_customer() -> None:
    assert len(set(ALL_ACCOUNTS)) == len(ALL_ACCOUNTS)
    assert all(a.startswith("A") and len(a) == 7 and a[1:].isdigit() for a in ALL_ACCOUNTS)
    assert [customer_id_for_account(a) for a in ALL_ACCOUNTS] == ALL_CUSTOMERS


@pytest.mark.parametrize("bad", ["A12345", "B437327", "A4373270", "437327"])
def test_malformed_accounts_have_no_customer_and_no_orders(bad: str) -> None:
    assert customer_id_for_account(bad) is None
    assert orders_for_account(bad) == ()


def test_account_id_for_rejects_malformed_customer_ids() -> None:
    with pytest.raises(ValueError, match="C00042"):
        account_id_for("42")


def test_customer_fields_come_from_the_fixed_lists() -> None:
    customers = [customer(c) for c in ALL_CUSTOMERS]
    assert all(c is not None for c in customers)
    segments = Counter(c.segment for c in customers if c is not None)
    assert set(segments) == {"retail", "smb", "enterprise"}
    assert segments["retail"] > segments["smb"] > segments["enterprise"]
    emails = {c.email for c in customers if c is not None}
    assert len(emails) == len(customers)
    assert all("2015-01-01" <= c.since <= "2024-12-31" for c in customers if c is not None)


def test_order_counts_span_zero_to_eight_and_ids_resolve_back() -> None:
    counts = Counter(len(orders_for_account(a)) for a in ALL_ACCOUNTS)
    assert set(counts) == set(range(9))
    for account in ALL_ACCOUNTS[:300]:
        for placed in orders_for_account(account):
            assert parse_order_id(placed.order_id) == (account, int(placed.order_id[-1]))
            assert order(placed.order_id) == placed
            assert customer_id_for_account(account) == placed.customer_id


def test_orders_are_newest_first_with_totals_of_their_lines() -> None:
    for account in ALL_ACCOUNTS[:300]:
        orders = orders_for_account(account)
        assert [o.placed_at for o in orders] == sorted((o.placed_at for o in orders), reverse=True)
        for placed in orders:
            assert 1 <= len(placed.items) <= 4
            assert placed.total == round(sum(line.qty * line.price for line in placed.items), 2)
            since = customer(placed.customer_id)
            assert since is not None
            assert since.since <= placed.placed_at[:10] <= "2025-12-31"


def test_total_spent_leaves_out_cancelled_orders() -> None:
    account = next(a for a in ALL_ACCOUNTS if any(o.status == "cancelled" for o in orders_for_account(a)))
    orders = orders_for_account(account)
    assert total_spent(orders) == round(sum(o.total for o in orders if o.status != "cancelled"), 2)


def test_unknown_order_sequences_have_no_order() -> None:
    account = next(a for a in ALL_ACCOUNTS if len(orders_for_account(a)) == 2)
    assert order(order_id_for(account, 1)) is not None
    assert order(order_id_for(account, 2)) is None
    assert order("O123") is None


def test_credit_scores_are_in_range_with_about_thirty_percent_below_650() -> None:
    scores = [credit_score_for(a) for a in ALL_ACCOUNTS]
    assert min(scores) >= 300
    assert max(scores) <= 850
    assert 0.27 <= sum(s < CREDIT_THRESHOLD for s in scores) / len(scores) <= 0.33


def test_loyalty_tiers_follow_points() -> None:
    tiers: Counter[str] = Counter()
    for account in ALL_ACCOUNTS:
        member = loyalty_for(account)
        tiers[member.tier] += 1
        floor = {"none": 0, "silver": 1_000, "gold": 5_000, "platinum": 12_000}[member.tier]
        assert floor <= member.points < 20_000
    assert set(tiers) == {"none", "silver", "gold", "platinum"}


def test_risk_levels_follow_scores_and_reasons() -> None:
    levels: Counter[str] = Counter()
    for account in ALL_ACCOUNTS:
        risk = risk_for(account, orders=len(orders_for_account(account)))
        levels[risk.level] += 1
        expected = "low" if risk.score < 40 else "medium" if risk.score < 70 else "high"
        assert risk.level == expected
        assert 0 <= risk.score <= 100
        poor_credit = credit_score_for(account) < CREDIT_THRESHOLD
        assert (f"credit score below {CREDIT_THRESHOLD}" in risk.reasons) == poor_credit
    assert set(levels) == {"low", "medium", "high"}


def test_risk_rises_without_order_history() -> None:
    account = "A437327"
    assert risk_for(account, orders=0).score > risk_for(account, orders=3).score
    assert "no order history" in risk_for(account, orders=0).reasons


def test_shipments_follow_their_order() -> None:
    statuses = {"delivered", "in_transit", "label_created", "cancelled", "returned"}
    for account in ALL_ACCOUNTS[:200]:
        for placed in orders_for_account(account):
            shipment = shipment_for(placed)
            assert shipment.order_id == placed.order_id
            assert shipment.status in statuses
            assert shipment.eta > placed.placed_at[:10]
            assert shipment == shipment_for(placed)


def test_tickets_count_zero_to_four_newest_first() -> None:
    counts = Counter(len(tickets_for(c)) for c in ALL_CUSTOMERS)
    assert set(counts) == set(range(5))
    for customer_id in ALL_CUSTOMERS[:200]:
        tickets = tickets_for(customer_id)
        assert [t.opened_at for t in tickets] == sorted((t.opened_at for t in tickets), reverse=True)
        assert all(t.ticket_id.startswith(f"T{customer_id[1:]}") for t in tickets)
