"""The per-request state machine: dispatch, results in any order, skips, failures, deadline, the profile."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from planner import (
    ErrorKind,
    Failure,
    NodeState,
    Outcome,
    Pipeline,
    RequestState,
    Step,
    plan_request,
    task_id_for,
)

T0 = datetime(2026, 11, 22, 16, 0, tzinfo=UTC).timestamp() * 1000
C042 = {"customer_id": "C042"}
CUSTOMER = {"name": "Ada", "email": "ada@example.com", "segment": "gold", "account_id": "A-1"}
RESULTS: dict[str, Any] = {
    "customer": CUSTOMER,
    "orders": {"items": [{"sku": "s1"}], "total_spent": 12.5, "count": 1},
    "tickets": {"open": 2},
    "loyalty": {"tier": "silver"},
    "credit": {"score": 700},
    "risk": {"level": "low"},
}


def _state(pipeline: Pipeline, *, fields: list[str] | None = None, **kwargs: Any) -> RequestState:
    plan = plan_request(pipeline, keys=kwargs.pop("keys", C042), fields=fields)
    return RequestState(plan, request_id="r-1", received_at_ms=T0, **kwargs)


def _ok(node: str, value: Any = None, **kwargs: Any) -> Outcome:
    return Outcome(node=node, value=RESULTS[node] if value is None else value, **kwargs)


def _failed(node: str, kind: ErrorKind = "timeout", message: str = "no answer in 300 ms") -> Outcome:
    return Outcome(node=node, failure=Failure(kind=kind, message=message, retriable=True), attempts=3)


def _dispatched(step: Step) -> list[str]:
    return [t.node for t in step.tasks]


def test_start_dispatches_the_roots_with_rendered_requests(customer360: Pipeline) -> None:
    state = _state(customer360, trace_id="t")
    step = state.start(T0)
    assert _dispatched(step) == ["customer", "tickets"]
    customer = step.tasks[0]
    assert customer.task_id == task_id_for("r-1", "customer") == "r-1/customer"
    assert customer.request == {"path": "/customers/C042"}
    assert (customer.pipeline, customer.config_version) == ("customer360", customer360.version)
    assert (customer.source, customer.connector) == ("crm", "http")
    assert (customer.timeout_ms, customer.retries) == (300, 2)
    assert customer.deadline_at_ms == T0 + 1000
    assert step.tasks[1].request == {"path": "/tickets", "params": {"customer": "C042"}}
    assert state.node_state("orders") is NodeState.PENDING
    assert not state.finished


def test_start_twice_dispatches_nothing_new(customer360: Pipeline) -> None:
    state = _state(customer360)
    state.start(T0)
    assert state.start(T0 + 1).tasks == ()


def test_result_dispatches_the_nodes_that_became_ready(customer360: Pipeline) -> None:
    state = _state(customer360)
    state.start(T0)
    step = state.apply(_ok("customer"), T0 + 20)
    assert _dispatched(step) == ["credit", "loyalty", "orders"]
    assert step.tasks[2].request == {"path": "/orders", "params": {"account": "A-1"}}
    assert step.tasks[0].request["params"] == {"acct": "A-1"}
    assert step.emission is None


def _run(state: RequestState, results: dict[str, Outcome], now: float = T0) -> Step:
    """Feed results as tasks are dispatched (breadth first) until nothing is left to do."""
    step = state.start(now)
    queue = _dispatched(step)
    while queue and not state.finished:
        now += 10
        step = state.apply(results[queue.pop(0)], now)
        queue.extend(_dispatched(step))
    return step


def test_all_results_give_a_complete_profile(customer360: Pipeline) -> None:
    state = _state(customer360, trace_id="4bf92f3577b34da6a3ce929d0e0e4736")
    results = {n: _ok(n) for n in RESULTS}
    results["credit"] = _ok("credit", {"score": 600})
    step = _run(state, results)
    assert step.emission is not None
    profile = step.emission.profile
    assert profile.status == "complete"
    assert profile.errors == {}
    assert profile.data == {
        "name": "Ada",
        "email": "ada@example.com",
        "segment": "gold",
        "orders": [{"sku": "s1"}],
        "total_spent": 12.5,
        "open_tickets": 2,
        "loyalty_tier": "silver",
        "credit_score": 600,
        "risk": "low",
    }
    assert step.emission.topic == "profiles.enriched"
    assert step.emission.key == "C042"
    assert state.emission is step.emission
    assert state.finished


def test_when_false_skips_the_node_without_an_error(customer360: Pipeline) -> None:
    state = _state(customer360, fields=["risk", "credit_score"])
    state.start(T0)
    state.apply(_ok("customer"), T0 + 10)
    assert state.apply(_ok("orders"), T0 + 20).emission is None
    step = state.apply(_ok("credit", {"score": 700}), T0 + 30)
    assert step.skipped == ("risk",)
    assert step.tasks == ()
    assert step.emission is not None
    profile = step.emission.profile
    assert profile.status == "complete"
    assert profile.errors == {}
    assert profile.data == {"credit_score": 700, "risk": None}
    assert profile.lineage["risk"].skipped
    assert profile.lineage["risk"].notes == ["skipped: when: credit.score < `650` is false"]
    assert state.node_state("risk") is NodeState.SKIPPED
    assert state.skip_reason("risk") == "when: credit.score < `650` is false"


def test_when_true_dispatches_the_node(customer360: Pipeline) -> None:
    state = _state(customer360, fields=["risk"])
    state.start(T0)
    state.apply(_ok("customer"), T0 + 10)
    state.apply(_ok("orders"), T0 + 20)
    step = state.apply(_ok("credit", {"score": 640}), T0 + 30)
    assert _dispatched(step) == ["risk"]
    assert step.tasks[0].request == {"path": "/scores/A-1", "params": {"orders": 1}}


def test_nodes_after_a_skipped_node_are_skipped(build_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = build_pipeline(
        nodes={
            "a": {"source": "api", "request": {"path": "/a/{keys.id}"}},
            "b": {"source": "api", "when": "a.go", "request": {"path": "/b"}},
            "c": {"source": "api", "request": {"path": "/c/{b.id}"}},
        },
        fields={"x": "a.x", "z": "c.z"},
    )
    state = _state(pipeline, keys={"id": "1"})
    state.start(T0)
    step = state.apply(Outcome(node="a", value={"go": False, "x": 1}), T0 + 5)
    assert step.skipped == ("b", "c")
    assert state.skip_reason("c") == "dependency 'b' was skipped"
    assert step.emission is not None
    assert step.emission.profile.status == "complete"
    assert step.emission.profile.data == {"x": 1, "z": None}


def test_field_computed_from_a_skipped_node_is_null_not_an_error(
    build_pipeline: Callable[..., Pipeline],
) -> None:
    pipeline = build_pipeline(
        nodes={
            "a": {"source": "api", "request": {"path": "/a/{keys.id}"}},
            "b": {"source": "api", "when": "a.go", "request": {"path": "/b"}},
        },
        fields={"count": "length(b.items)", "x": "a.x"},
    )
    state = _state(pipeline, keys={"id": "1"})
    state.start(T0)
    step = state.apply(Outcome(node="a", value={"go": False, "x": 1}), T0 + 5)
    assert step.emission is not None
    assert step.emission.profile.status == "complete"
    assert step.emission.profile.errors == {}
    assert step.emission.profile.data == {"count": None, "x": 1}
    assert step.emission.profile.lineage["count"].skipped


def test_field_that_fails_on_real_data_is_an_error(build_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = build_pipeline(fields={"count": "length(a.x)", "x": "a.x"})
    state = _state(pipeline, keys={"id": "1"})
    state.start(T0)
    step = state.apply(Outcome(node="a", value={"x": 1}), T0 + 5)
    assert step.emission is not None
    assert step.emission.profile.status == "partial"
    assert step.emission.profile.errors["fields.count"].kind == "field"
    assert step.emission.profile.data == {"x": 1}


def test_optional_failure_gives_a_partial_profile_naming_the_node(customer360: Pipeline) -> None:
    state = _state(customer360)
    results = {n: _ok(n) for n in RESULTS}
    results["tickets"] = _failed("tickets", "unavailable", "support answered 503")
    step = _run(state, results)
    assert step.emission is not None
    profile = step.emission.profile
    assert profile.status == "partial"
    assert set(profile.errors) == {"tickets"}
    error = profile.errors["tickets"]
    assert (error.kind, error.message, error.attempts, error.retriable) == (
        "unavailable",
        "support answered 503",
        3,
        True,
    )
    assert "open_tickets" not in profile.data
    assert "open_tickets" not in profile.lineage
    assert profile.data["name"] == "Ada"


def test_required_failure_fails_the_request_and_its_dependents(customer360: Pipeline) -> None:
    state = _state(customer360)
    state.start(T0)
    step = state.apply(_failed("customer"), T0 + 300)
    assert step.tasks == ()
    assert step.emission is None  # tickets is still out
    for node in ("orders", "loyalty", "credit", "risk"):
        assert state.node_state(node) is NodeState.FAILED
    step = state.apply(_ok("tickets"), T0 + 310)
    assert step.emission is not None
    profile = step.emission.profile
    assert profile.status == "failed"
    assert profile.errors["customer"].kind == "timeout"
    assert profile.errors["orders"].kind == "dependency_failed"
    assert profile.errors["orders"].message == "not run: dependency 'customer' failed"
    assert profile.errors["risk"].kind == "dependency_failed"
    assert profile.data == {"open_tickets": 2}


def test_a_shed_required_node_leaves_a_partial_profile_and_its_dependents_out_of_time(
    customer360: Pipeline,
) -> None:
    state = _state(customer360)
    state.start(T0)
    state.apply(_failed("customer", "shed", "shed after waiting 80 ms for a slot"), T0 + 80)
    step = state.apply(_ok("tickets"), T0 + 90)
    assert step.emission is not None
    profile = step.emission.profile
    assert profile.status == "partial"
    assert profile.errors["customer"].kind == "shed"
    assert profile.errors["orders"].kind == "deadline"
    assert profile.errors["orders"].message == "not run: dependency 'customer' ran out of time"


def test_a_dependency_failed_for_a_reason_of_its_own_outweighs_one_out_of_time(
    customer360: Pipeline,
) -> None:
    state = _state(customer360, fields=["orders", "credit_score"])
    state.start(T0)
    state.apply(_ok("customer"), T0 + 10)
    state.apply(_failed("credit", "shed", "shed"), T0 + 20)
    state.apply(_failed("orders", "rejected", "HTTP 400"), T0 + 30)
    assert state.emission is not None
    assert state.emission.profile.status == "failed"


def test_null_value_in_a_request_template_fails_that_node(customer360: Pipeline) -> None:
    state = _state(customer360, fields=["orders"])
    state.start(T0)
    step = state.apply(_ok("customer", {"name": "Ada"}), T0 + 10)
    assert step.emission is not None
    error = step.emission.profile.errors["orders"]
    assert error.kind == "render"
    assert "{customer.account_id} is null" in error.message
    assert step.emission.profile.status == "failed"


def test_deadline_publishes_partial_profile_with_what_arrived(customer360: Pipeline) -> None:
    state = _state(customer360, deadline_ms=800)
    state.start(T0)
    state.apply(_ok("customer"), T0 + 100)
    state.apply(_ok("tickets"), T0 + 150)
    state.apply(_ok("orders"), T0 + 200)
    step = state.expire(T0 + 800)
    assert step.emission is not None
    profile = step.emission.profile
    assert profile.status == "partial"
    assert profile.data["name"] == "Ada"
    assert profile.data["open_tickets"] == 2
    assert profile.data["orders"] == [{"sku": "s1"}]
    assert "credit_score" not in profile.data
    assert {n: e.kind for n, e in profile.errors.items()} == {
        "credit": "deadline",
        "loyalty": "deadline",
        "risk": "deadline",
    }
    assert profile.errors["credit"].message == "no result within the request's deadline of 800 ms"
    assert profile.errors["risk"].message == "not started: the request's deadline of 800 ms passed first"
    assert profile.timing.latency_ms == 800.0


def test_result_arriving_after_the_deadline_finishes_the_request_at_once(customer360: Pipeline) -> None:
    state = _state(customer360, fields=["name", "orders"])
    state.start(T0)
    step = state.apply(_ok("customer"), T0 + 1000)
    assert step.tasks == ()
    assert step.emission is not None
    assert step.emission.profile.status == "partial"
    assert step.emission.profile.data == {"name": "Ada"}
    assert step.emission.profile.errors["orders"].kind == "deadline"


def test_start_after_the_deadline_emits_at_once(customer360: Pipeline) -> None:
    state = _state(customer360, fields=["name"], deadline_ms=50)
    step = state.start(T0 + 60)
    assert step.tasks == ()
    assert step.emission is not None
    assert step.emission.profile.status == "partial"
    assert step.emission.profile.data == {}


def test_deadline_defaults_to_the_pipeline_default(customer360: Pipeline) -> None:
    assert _state(customer360).deadline_at_ms == T0 + 1000
    assert _state(customer360, deadline_ms=250).deadline_at_ms == T0 + 250


def test_duplicates_late_results_and_unknown_nodes_change_nothing(customer360: Pipeline) -> None:
    state = _state(customer360, fields=["name", "orders"])
    state.start(T0)
    assert _dispatched(state.apply(_ok("customer"), T0 + 10)) == ["orders"]
    assert state.apply(_ok("customer", {"name": "Eve", "account_id": "X"}), T0 + 11) == Step()
    assert state.apply(_failed("customer"), T0 + 12) == Step()
    assert state.apply(_ok("risk"), T0 + 13) == Step()  # not in this graph
    assert state.apply(Outcome(node="nope", value=1), T0 + 14) == Step()
    step = state.apply(_ok("orders"), T0 + 20)
    assert step.emission is not None
    assert step.emission.profile.data == {"name": "Ada", "orders": [{"sku": "s1"}]}
    assert state.apply(_ok("orders"), T0 + 30) == Step()
    assert state.expire(T0 + 2000) == Step()
    assert state.start(T0 + 2000) == Step()
    assert state.emission is step.emission


def test_mark_dispatched_avoids_dispatching_twice_after_a_rebuild(customer360: Pipeline) -> None:
    state = _state(customer360)
    state.mark_dispatched({"r-1/customer", "r-1/unknown"})
    assert _dispatched(state.start(T0)) == ["tickets"]
    assert state.node_state("customer") is NodeState.DISPATCHED


def test_fields_reading_only_keys_finish_at_start(build_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = build_pipeline(fields={"x": "a.x", "id": "keys.id"})
    state = _state(pipeline, keys={"id": "7"}, fields=["id"])
    step = state.start(T0)
    assert step.tasks == ()
    assert step.emission is not None
    assert step.emission.profile.data == {"id": "7"}
    assert step.emission.profile.lineage["id"].source == "request"
    assert step.emission.profile.lineage["id"].node is None


def test_output_key_comes_from_the_output_key_expression(build_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = build_pipeline(output={"topic": "accounts", "key": "a.account"})
    state = _state(pipeline, keys={"id": "7"})
    state.start(T0)
    step = state.apply(Outcome(node="a", value={"x": 1, "account": 99}), T0 + 1)
    assert step.emission is not None
    assert (step.emission.topic, step.emission.key) == ("accounts", "99")


def test_output_key_is_none_when_its_node_failed(build_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = build_pipeline(output={"key": "a.account"})
    state = _state(pipeline, keys={"id": "7"})
    state.start(T0)
    step = state.apply(_failed("a"), T0 + 1)
    assert step.emission is not None
    assert step.emission.key is None
    assert step.emission.profile.status == "failed"


def test_order_tracking_keys_profiles_by_order_id(order_tracking: Pipeline) -> None:
    state = _state(order_tracking, keys={"order_id": "O-9"}, fields=["status", "notify"])
    assert _dispatched(state.start(T0)) == ["order"]
    state.apply(Outcome(node="order", value={"status": "open", "customer_id": "C1"}), T0 + 5)
    step = state.apply(Outcome(node="customer", value={"name": "Ada", "email": "a@x"}), T0 + 9)
    assert step.emission is not None
    assert (step.emission.topic, step.emission.key) == ("orders.tracked", "O-9")
    assert step.emission.profile.data == {"status": "open", "notify": {"name": "Ada", "email": "a@x"}}


SPEC_PROFILE_KEYS = {
    "request_id",
    "pipeline",
    "config_version",
    "status",
    "keys",
    "data",
    "errors",
    "lineage",
    "timing",
    "trace_id",
}
SPEC_LINEAGE_KEYS = {"node", "source", "connector", "config_version", "attempts", "latency_ms", "fetched_at"}


def test_profile_json_has_the_shape_of_spec_section_3(customer360: Pipeline) -> None:
    state = _state(
        customer360, fields=["name", "orders", "open_tickets"], trace_id="4bf92f3577b34da6a3ce929d0e0e4736"
    )
    state.start(T0)
    state.apply(_ok("customer", attempts=2, latency_ms=51.34567, fetched_at_ms=T0 + 60.123), T0 + 61)
    state.apply(_failed("tickets"), T0 + 70)
    step = state.apply(_ok("orders"), T0 + 123.4)
    assert step.emission is not None
    document = json.loads(step.emission.profile.model_dump_json())
    assert set(document) == SPEC_PROFILE_KEYS
    assert document["request_id"] == "r-1"
    assert document["pipeline"] == "customer360"
    assert document["config_version"] == customer360.version
    assert document["status"] == "partial"
    assert document["keys"] == C042
    assert document["data"] == {"name": "Ada", "orders": [{"sku": "s1"}]}
    assert document["errors"]["tickets"]["kind"] == "timeout"
    assert document["errors"]["tickets"]["message"] == "no answer in 300 ms"
    lineage = document["lineage"]["name"]
    assert set(lineage) >= SPEC_LINEAGE_KEYS
    assert lineage == {
        "node": "customer",
        "source": "crm",
        "connector": "http",
        "config_version": customer360.version,
        "attempts": 2,
        "latency_ms": 51.346,
        "fetched_at": "2026-11-22T16:00:00.060Z",
        "skipped": False,
        "notes": [],
    }
    assert document["lineage"]["orders"]["node"] == "orders"
    assert document["timing"] == {
        "received_at": "2026-11-22T16:00:00.000Z",
        "completed_at": "2026-11-22T16:00:00.123Z",
        "latency_ms": 123.4,
    }
    assert document["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize("failed", ["customer", "orders"])
def test_fields_of_a_failed_node_are_left_out_of_data(customer360: Pipeline, failed: str) -> None:
    state = _state(customer360, fields=["name", "orders"])
    results = {"customer": _ok("customer"), "orders": _ok("orders")}
    results[failed] = _failed(failed)
    step = _run(state, results)
    assert step.emission is not None
    assert failed not in {lineage.node for lineage in step.emission.profile.lineage.values()}
    assert step.emission.profile.status == "failed"
