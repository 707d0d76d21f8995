"""The public event contracts: ``schemas/`` is generated from the models, and every closed list
(statuses, error kinds, dead-letter codes) is what the models accept and what docs/spec.md documents."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any, get_args

import pytest

from connectors import FETCH_ERROR_KINDS, FetchError, FetchErrorKind, UpstreamUnavailable
from planner import (
    ErrorKind,
    Failure,
    NodeError,
    Outcome,
    RequestErrorCode,
    RequestState,
    Status,
    parse_pipeline,
    plan_request,
)
from planner.profile import iso_ms
from streams.contracts import CONTRACTS, Contract, contract_schema, contract_schema_text
from streams.engine.outcomes import failed_outcome
from streams.events import (
    CompletedEvent,
    DeadLetter,
    FailureModel,
    RecordCoordinates,
    RequestEvent,
    ResultEvent,
    TaskEvent,
    results_adapter,
)

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = REPO / "schemas"
SPEC = REPO / "docs" / "spec.md"
REGENERATE = "python -m streams.contracts"
BY_NAME = {contract.name: contract for contract in CONTRACTS}

jsonschema = pytest.importorskip("jsonschema")


def _validator(name: str) -> Any:
    return jsonschema.Draft202012Validator(contract_schema(BY_NAME[name]))


def _errors(name: str, document: Any) -> list[str]:
    return [error.message for error in _validator(name).iter_errors(document)]


def _spec_section(heading: str) -> str:
    """The text of one ``###`` section of docs/spec.md."""
    text = SPEC.read_text(encoding="utf-8")
    start = text.index(f"### {heading}\n")
    end = text.find("\n#", start + 1)
    return text[start : end if end != -1 else len(text)]


def _table_names(section: str) -> list[str]:
    """The names in the first column of a section's table: ``| `name` | ...``."""
    return re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.MULTILINE)


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.name)
def test_committed_schema_matches_the_models(contract: Contract) -> None:
    path = SCHEMAS / contract.filename
    assert path.exists(), f"schemas/{contract.filename} is missing; generate it with: {REGENERATE}"
    assert path.read_text(encoding="utf-8") == contract_schema_text(contract), (
        f"schemas/{contract.filename} is out of date with {contract.model.__name__}; "
        f"regenerate it with: {REGENERATE}"
    )


def test_schemas_folder_holds_exactly_the_contracts() -> None:
    assert sorted(p.name for p in SCHEMAS.iterdir()) == sorted(c.filename for c in CONTRACTS)


def test_schema_text_is_the_schema_as_sorted_json() -> None:
    for contract in CONTRACTS:
        document = json.loads(contract_schema_text(contract))
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert document["$id"] == f"https://graphfetch.dev/schemas/{contract.filename}"


def test_request_schema_accepts_the_spec_example_and_leaves_optional_fields_optional() -> None:
    example = {
        "request_id": "r-1",
        "pipeline": "customer360",
        "keys": {"customer_id": "C00042"},
        "fields": ["name", "orders", "risk"],
        "deadline_ms": 800,
    }
    assert _errors("request", example) == []
    assert _errors("request", {"pipeline": "customer360", "keys": {"customer_id": "C00042"}}) == []
    RequestEvent.model_validate(example)


def test_request_schema_refuses_what_the_model_refuses() -> None:
    assert _errors("request", {"pipeline": "customer360", "keys": {}, "extra": 1})
    assert _errors("request", {"pipeline": "customer360", "keys": {"customer_id": 42}})
    assert _errors("request", {"pipeline": "customer360", "keys": {}, "deadline_ms": 0})
    assert _errors("request", {"keys": {}})


def _partial_profile() -> dict[str, Any]:
    """A real profile from the state machine: customer360 at its deadline, one node done."""
    pipeline = parse_pipeline((REPO / "configs" / "customer360.yaml").read_text(), file="c.yaml", env={})
    now = time.time() * 1000
    state = RequestState(
        plan_request(pipeline, keys={"customer_id": "C00042"}), request_id="r-1", received_at_ms=now
    )
    step = state.start(now)
    assert step.tasks
    step = state.expire(now + 1000)
    assert step.emission is not None
    document: dict[str, Any] = json.loads(step.emission.profile.model_dump_json())
    return document


def test_a_profile_validates_against_its_schema_with_every_property_present() -> None:
    document = _partial_profile()
    assert document["status"] == "partial"
    assert {e["kind"] for e in document["errors"].values()} == {"deadline"}
    assert _errors("profile", document) == []
    schema = contract_schema(BY_NAME["profile"])
    assert set(schema["required"]) == set(document)
    assert set(schema["$defs"]["NodeError"]["required"]) == {"kind", "message", "attempts", "retriable"}


def test_profile_schema_refuses_an_unknown_status_or_error_kind() -> None:
    document = _partial_profile()
    assert _errors("profile", {**document, "status": "done"})
    error = next(iter(document["errors"]))
    bad = {**document["errors"], error: {**document["errors"][error], "kind": "http_503"}}
    assert _errors("profile", {**document, "errors": bad})


def test_a_dead_letter_validates_against_its_schema() -> None:
    letter = DeadLetter(
        reason="unknown pipeline 'nope' (known: customer360)",
        code="unknown_pipeline",
        source=RecordCoordinates(topic="graphfetch.requests", partition=3, offset=1207),
        key=None,
        value=base64.b64encode(b'{"pipeline": "nope"}').decode(),
        value_size=20,
        failed_at=iso_ms(0),
    )
    document = json.loads(letter.model_dump_json())
    assert _errors("dead-letter", document) == []
    assert _errors("dead-letter", {**document, "code": "whatever"})


def test_every_fetch_error_kind_is_an_error_kind() -> None:
    assert set(get_args(FetchErrorKind)) <= set(get_args(ErrorKind))
    assert set(get_args(FetchErrorKind)) == FETCH_ERROR_KINDS


def test_models_refuse_kinds_statuses_and_codes_outside_the_lists() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        NodeError.model_validate({"kind": "boom", "message": "x"})
    with pytest.raises(ValidationError):
        FailureModel.model_validate({"kind": "boom", "message": "x"})
    with pytest.raises(ValidationError):
        CompletedEvent.model_validate({"request_id": "r", "status": "done"})


@pytest.mark.parametrize("kind", get_args(ErrorKind))
def test_every_error_kind_survives_the_results_topic(kind: ErrorKind) -> None:
    task = TaskEvent(
        task_id="r-1/customer",
        request_id="r-1",
        pipeline="customer360",
        config_version="v",
        node="customer",
        source="crm",
        connector="http",
        request={"path": "/customers/C00042"},
        timeout_ms=300,
        retries=2,
        deadline_at_ms=0,
        reply_partition=0,
    )
    outcome = Outcome(node="customer", failure=Failure(kind=kind, message="m", retriable=True), attempts=3)
    wire = ResultEvent.from_outcome(task, outcome).model_dump_json()
    event = results_adapter.validate_json(wire)
    assert isinstance(event, ResultEvent)
    assert event.to_outcome().failure == outcome.failure


def test_a_plugin_error_with_a_kind_of_its_own_is_reported_as_fetch_error() -> None:
    class Flaky(UpstreamUnavailable):
        kind = "flaky"  # type: ignore[assignment]

    plan = plan_request(
        parse_pipeline((REPO / "configs" / "customer360.yaml").read_text(), file="c.yaml", env={}),
        keys={"customer_id": "C00042"},
    )
    state = RequestState(plan, request_id="r-1", received_at_ms=time.time() * 1000)
    first = state.start(time.time() * 1000).tasks[0]
    flaky = failed_outcome(first, Flaky("upstream flaked", source="crm"), started=time.perf_counter()).failure
    assert flaky is not None
    assert (flaky.kind, flaky.retriable, flaky.message) == (
        "fetch_error",
        True,
        "source 'crm': upstream flaked",
    )
    plain = failed_outcome(first, FetchError("x"), started=time.perf_counter()).failure
    assert plain is not None
    assert plain.kind == "fetch_error"


@pytest.mark.parametrize(
    ("heading", "values"),
    [
        ("Statuses", get_args(Status)),
        ("Error kinds", get_args(ErrorKind)),
        ("Dead-letter codes", get_args(RequestErrorCode)),
    ],
)
def test_the_spec_documents_every_value_of_each_list(heading: str, values: tuple[str, ...]) -> None:
    assert sorted(_table_names(_spec_section(heading))) == sorted(values)
