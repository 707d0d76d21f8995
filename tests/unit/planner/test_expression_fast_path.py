"""Plain field chains are looked up without jmespath's interpreter: same answers, no garbage cycles."""

from __future__ import annotations

import gc
from typing import Any

import jmespath
from hypothesis import given
from hypothesis import strategies as st

from planner.expressions import Expression

NAMES = st.sampled_from(["a", "b", "keys", "id"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
    max_leaves=12,
)


@given(path=st.lists(NAMES, min_size=1, max_size=4), context=st.dictionaries(NAMES, JSON, max_size=4))
def test_field_chain_answers_as_jmespath(path: list[str], context: dict[str, Any]) -> None:
    source = ".".join(path)
    assert Expression.compile(source).search(context) == jmespath.search(source, context)


def test_expressions_leave_no_reference_cycles() -> None:
    """jmespath's own search builds an interpreter per call whose method cache is a cycle."""
    context = {"keys": {"id": "C1"}, "orders": {"items": [{"total": 3}, {"total": 4}]}}
    expressions = [
        Expression.compile(s) for s in ("keys.id", "sum(orders.items[*].total)", "orders.items[0]")
    ]
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            for expression in expressions:
                expression.search(context)
        assert gc.collect() == 0
    finally:
        gc.enable()
