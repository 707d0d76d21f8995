"""Request graphs: pruning to the fields asked for, levels, critical path, and request checks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from planner import Pipeline, RequestError, graph_shape, plan_request

BuildPipeline = Callable[..., Pipeline]  # the build_pipeline fixture of conftest.py

C042 = {"customer_id": "C042"}


@pytest.mark.parametrize(
    ("fields", "nodes"),
    [
        (["name"], ("customer",)),
        (["name", "email", "segment"], ("customer",)),
        (["orders"], ("customer", "orders")),
        (["risk"], ("customer", "credit", "orders", "risk")),
        (["open_tickets"], ("tickets",)),
        (["loyalty_tier", "credit_score"], ("customer", "credit", "loyalty")),
    ],
)
def test_graph_holds_only_the_nodes_the_fields_need(
    customer360: Pipeline, fields: list[str], nodes: tuple[str, ...]
) -> None:
    assert set(graph_shape(customer360, fields).nodes) == set(nodes)


def test_graph_of_all_fields_holds_every_node(customer360: Pipeline) -> None:
    shape = graph_shape(customer360)
    assert set(shape.nodes) == set(customer360.nodes)
    assert shape.fields == tuple(customer360.fields)


def test_levels_group_nodes_by_dependency_depth(customer360: Pipeline) -> None:
    assert graph_shape(customer360).levels == (
        ("customer", "tickets"),
        ("credit", "loyalty", "orders"),
        ("risk",),
    )
    assert graph_shape(customer360, ["risk"]).levels == (("customer",), ("credit", "orders"), ("risk",))


def test_nodes_are_in_dependency_order(customer360: Pipeline) -> None:
    shape = graph_shape(customer360)
    seen: set[str] = set()
    for node in shape.nodes:
        assert shape.deps[node] <= seen
        seen.add(node)


def test_dependents_are_the_reverse_of_deps(customer360: Pipeline) -> None:
    shape = graph_shape(customer360)
    assert set(shape.dependents["customer"]) == {"orders", "loyalty", "credit", "risk"}
    assert shape.dependents["risk"] == ()
    assert set(shape.dependents["orders"]) == {"risk"}


def test_shape_is_cached_per_field_selection(customer360: Pipeline) -> None:
    assert graph_shape(customer360, ["name", "risk"]) is graph_shape(customer360, ["risk", "name"])


def test_critical_path_counts_nodes_without_costs(customer360: Pipeline) -> None:
    path, total = graph_shape(customer360).critical_path()
    assert total == 3.0
    assert path[0] == "customer"
    assert path[-1] == "risk"
    assert len(path) == 3


def test_critical_path_follows_the_costliest_chain(customer360: Pipeline) -> None:
    cost = {"customer": 20.0, "orders": 80.0, "credit": 30.0, "risk": 10.0, "tickets": 500.0, "loyalty": 5.0}
    assert graph_shape(customer360).critical_path(cost) == (("tickets",), 500.0)
    cost["tickets"] = 10.0
    assert graph_shape(customer360).critical_path(cost) == (("customer", "orders", "risk"), 110.0)


def test_critical_path_uses_one_for_nodes_without_a_cost(customer360: Pipeline) -> None:
    assert graph_shape(customer360, ["orders"]).critical_path({"orders": 4.5}) == (
        ("customer", "orders"),
        5.5,
    )


def test_key_names_come_from_the_nodes_fields_and_output_key(build_pipeline: BuildPipeline) -> None:
    pipeline = build_pipeline(
        nodes={
            "a": {"source": "api", "request": {"path": "/a/{keys.id}"}},
            "b": {"source": "api", "request": {"params": {"r": "{keys.region}", "x": "{a.x}"}}},
        },
        fields={"x": "a.x", "y": "b.y", "t": "keys.tenant"},
    )
    assert graph_shape(pipeline, ["x"]).key_names == {"id"}
    assert graph_shape(pipeline, ["y"]).key_names == {"id", "region"}
    assert graph_shape(pipeline, ["t"]).key_names == {"id", "tenant"}
    assert graph_shape(pipeline, ["t"]).nodes == ()


def test_plan_carries_the_shape_and_keys(customer360: Pipeline) -> None:
    plan = plan_request(customer360, keys=C042, fields=["risk", "name"])
    assert plan.fields == ("name", "risk")
    assert plan.nodes == graph_shape(customer360, ["risk", "name"]).nodes
    assert plan.levels == graph_shape(customer360, ["name", "risk"]).levels
    assert plan.keys == C042


def test_unknown_field_is_refused_with_the_known_fields(customer360: Pipeline) -> None:
    with pytest.raises(RequestError) as caught:
        plan_request(customer360, keys=C042, fields=["name", "shoe_size"])
    assert caught.value.code == "unknown_field"
    message = str(caught.value)
    assert "unknown field(s) 'shoe_size' for pipeline 'customer360'" in message
    assert (
        "(known: name, email, segment, orders, total_spent, open_tickets, loyalty_tier, credit_score, risk)"
        in message
    )


def test_empty_field_list_is_refused(customer360: Pipeline) -> None:
    with pytest.raises(RequestError, match="'fields' is empty") as caught:
        plan_request(customer360, keys=C042, fields=[])
    assert caught.value.code == "no_fields"


def test_missing_key_is_refused(customer360: Pipeline) -> None:
    with pytest.raises(
        RequestError, match="missing key\\(s\\) 'customer_id' for pipeline 'customer360'"
    ) as caught:
        plan_request(customer360, keys={"order_id": "O1"})
    assert caught.value.code == "missing_key"


def test_key_not_matching_its_pattern_is_refused_and_echoed(customer360: Pipeline) -> None:
    with pytest.raises(RequestError) as caught:
        plan_request(customer360, keys={"customer_id": "C 042!"})
    assert caught.value.code == "invalid_key"
    assert str(caught.value) == "key 'customer_id': 'C 042!' does not match pattern '^[A-Za-z0-9_-]{1,32}$'"


def test_sensitive_key_value_is_never_echoed(build_pipeline: BuildPipeline) -> None:
    pipeline = build_pipeline(keys={"id": {"pattern": "^[0-9]{9}$", "sensitive": True, "max_length": 12}})
    with pytest.raises(RequestError) as caught:
        plan_request(pipeline, keys={"id": "123-45-6789"})
    assert "123-45-6789" not in str(caught.value)
    assert str(caught.value) == "key 'id': value does not match pattern '^[0-9]{9}$'"
    with pytest.raises(RequestError, match="longer than 12 characters") as long:
        plan_request(pipeline, keys={"id": "9" * 13})
    assert "9999" not in str(long.value)


def test_extra_keys_are_accepted(customer360: Pipeline) -> None:
    assert plan_request(customer360, keys={**C042, "tenant": "t1"}).keys["tenant"] == "t1"


def test_render_request_escapes_values_only_in_the_fields_its_connector_names(customer360: Pipeline) -> None:
    bound = customer360.bind_escapes(lambda connector: {"path": lambda value: f"<{value}>"})
    context = {"keys": {"customer_id": "../x"}, "customer": {"account_id": "A/1"}}
    assert bound.escapes_bound
    assert not customer360.escapes_bound
    assert bound.nodes["customer"].render_request(context) == {"path": "/customers/<../x>"}
    assert bound.nodes["orders"].render_request(context) == {"path": "/orders", "params": {"account": "A/1"}}
    # Unbound (the planner alone): values go in as they are; a runtime binds before it renders.
    assert customer360.nodes["customer"].render_request(context) == {"path": "/customers/../x"}


def test_render_request_of_a_single_placeholder_field_with_an_escape_is_escaped_text(
    build_pipeline: BuildPipeline,
) -> None:
    pipeline = build_pipeline(
        nodes={"a": {"source": "api", "request": {"path": "{keys.id}", "n": "{keys.id}"}}}
    ).bind_escapes(lambda connector: {"path": str.upper})
    assert pipeline.nodes["a"].render_request({"keys": {"id": "ab"}}) == {"path": "AB", "n": "ab"}


def test_request_outline_puts_a_stand_in_for_each_expression(build_pipeline: BuildPipeline) -> None:
    request = {"path": "/c/{keys.id}/o/{keys.id}", "params": {"q": ["{keys.id}", 3]}, "n": "{keys.id}"}
    pipeline = build_pipeline(nodes={"a": {"source": "api", "request": request}})
    assert pipeline.nodes["a"].request_outline() == {"path": "/c/x/o/x", "params": {"q": ["x", 3]}, "n": "x"}
