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
import yaml
from typer.testing import CliRunner

from connectors import FETCH_ERROR_KINDS, FetchError, FetchErrorKind, UpstreamUnavailable
from planner import (
    SCHEMA_VERSION,
    ErrorKind,
    Failure,
    NodeError,
    Outcome,
    Profile,
    RequestError,
    RequestErrorCode,
    RequestState,
    Status,
    parse_pipeline,
    plan_request,
)
from planner.profile import iso_ms
from streams.cli.main import app
from streams.contracts import (
    CONTRACTS,
    asyncapi_document,
    contract_schema,
    contract_texts,
    pipeline_profile_schema,
)
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
from streams.liveconfig.catalog import load_catalog
from streams.runtime.intake import decode_request
from streams.settings import Settings

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = REPO / "schemas"
SPEC = REPO / "docs" / "spec.md"
REGENERATE = "graphfetch contracts"
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


def _committed_texts() -> dict[str, str]:
    """What ``graphfetch contracts`` writes for ``configs/`` with the default topic names."""
    settings = Settings(requests_topic="graphfetch.requests", dlq_topic="graphfetch.dlq")
    return contract_texts(settings, load_catalog([REPO / "configs"]))


def test_schemas_folder_holds_exactly_the_contract_files() -> None:
    assert sorted(p.name for p in SCHEMAS.iterdir()) == sorted(_committed_texts()), (
        f"schemas/ does not hold the contract files of configs/; regenerate them with: {REGENERATE}"
    )


@pytest.mark.parametrize("name", sorted(_committed_texts()))
def test_committed_contract_file_is_current(name: str) -> None:
    assert (SCHEMAS / name).read_text(encoding="utf-8") == _committed_texts()[name], (
        f"schemas/{name} is out of date with the models or configs/; regenerate it with: {REGENERATE}"
    )


def test_the_contracts_command_writes_each_format_where_asked(tmp_path: Path) -> None:
    runner = CliRunner()
    configs = ["--configs", str(REPO / "configs")]
    result = runner.invoke(
        app, ["contracts", "--format", "jsonschema", "--out", str(tmp_path / "j"), *configs]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "j").iterdir()) == sorted(
        name for name in _committed_texts() if name.endswith(".schema.json")
    )
    result = runner.invoke(app, ["contracts", "--format", "asyncapi", "--out", str(tmp_path / "a"), *configs])
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["asyncapi.yaml"]
    document = yaml.safe_load((tmp_path / "a" / "asyncapi.yaml").read_text())
    assert document["channels"]["output_profiles_enriched"]["address"] == "profiles.enriched"
    assert document["channels"]["output_orders_tracked"]["address"] == "orders.tracked"


def test_the_contracts_command_names_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("pipeline: x\nfields: {a: nope.x}\n")
    result = CliRunner().invoke(app, ["contracts", "--out", str(tmp_path / "out"), "--configs", str(broken)])
    assert result.exit_code == 1
    assert "broken.yaml" in result.output
    assert not (tmp_path / "out").exists()


def test_the_asyncapi_document_names_each_channel_its_key_and_each_pipelines_fields() -> None:
    pipelines = load_catalog([REPO / "configs"])
    settings = Settings(requests_topic="graphfetch.requests", dlq_topic="graphfetch.dlq")
    document = asyncapi_document(settings, pipelines)
    channels = document["channels"]
    assert {c["address"] for c in channels.values()} == {
        "graphfetch.requests",
        "graphfetch.dlq",
        *(p.config.output.topic for p in pipelines.values()),
    }
    actions = {
        op["channel"]["$ref"].rsplit("/", 1)[1]: op["action"] for op in document["operations"].values()
    }
    assert actions.pop("requests") == "receive"
    assert set(actions.values()) == {"send"}
    messages = document["components"]["messages"]
    schemas = document["components"]["schemas"]
    for name, pipeline in pipelines.items():
        message = messages[f"profile.{name}"]
        assert pipeline.config.output.key in message["bindings"]["kafka"]["key"]["description"]
        payload = schemas[message["payload"]["$ref"].rsplit("/", 1)[1]]
        assert set(payload["properties"]["data"]["properties"]) == set(pipeline.fields)
        lineage = payload["properties"]["lineage"]["properties"]
        assert lineage == {field: {"$ref": "#/components/schemas/Lineage"} for field in pipeline.fields}
    assert messages["deadLetter"]["bindings"]["kafka"]["key"]["type"] == "null"
    assert "$defs" not in json.dumps(document)  # every reference resolves under components.schemas


def test_schema_ids_and_dialect() -> None:
    for contract in CONTRACTS:
        document = contract_schema(contract)
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
    assert set(schema["required"]) == set(document) - {"schema_version"}  # absent from older producers
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
    wire = ResultEvent.from_outcome(task.to_task(), outcome).model_dump_json()
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


def test_a_pipelines_profile_schema_names_its_fields_and_keys() -> None:
    pipeline = load_catalog([REPO / "configs"])["customer360"]
    schema = pipeline_profile_schema(pipeline)
    assert set(schema["properties"]["data"]["properties"]) == set(pipeline.fields)
    assert schema["properties"]["data"]["properties"]["name"]["description"].startswith("`customer.name`")
    assert set(schema["properties"]["lineage"]["properties"]) == set(pipeline.fields)
    assert set(schema["properties"]["keys"]["properties"]) == {"customer_id"}
    assert schema["properties"]["pipeline"]["const"] == "customer360"
    validator = jsonschema.Draft202012Validator(schema)
    document = _partial_profile()
    assert [e.message for e in validator.iter_errors(document)] == []
    assert list(validator.iter_errors({**document, "pipeline": "order_tracking"}))
    assert list(validator.iter_errors({**document, "keys": {"customer_id": "not/allowed"}}))


# -- versioning: docs/spec.md#versioning --------------------------------------------------------------


def _a_later_version(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` as a producer of contract version 2 might write it: new properties at every level."""
    later: dict[str, Any] = json.loads(json.dumps(document))
    later["schema_version"] = 2
    later["region"] = "eu-west-1"
    for entry in later.get("lineage", {}).values():
        entry["cost_units"] = 3
    for error in later.get("errors", {}).values():
        error["upstream_status"] = 504
    if isinstance(later.get("timing"), dict):
        later["timing"]["queued_ms"] = 1.5
    if isinstance(later.get("source"), dict):
        later["source"]["leader_epoch"] = 7
    return later


def test_every_public_event_carries_the_current_schema_version() -> None:
    assert _partial_profile()["schema_version"] == SCHEMA_VERSION == 1
    assert RequestEvent(pipeline="p", keys={}).schema_version == SCHEMA_VERSION
    assert "schema_version" in contract_schema(BY_NAME["dead-letter"])["properties"]


def test_a_profile_of_a_later_version_passes_the_schema_and_the_reader_of_this_one() -> None:
    later = _a_later_version(_partial_profile())
    assert _errors("profile", later) == []
    profile = Profile.model_validate_json(json.dumps(later), extra="ignore")
    assert profile.schema_version == 2
    assert profile.request_id == "r-1"
    assert all(entry.config_version for entry in profile.lineage.values())


def test_a_profile_of_an_older_producer_without_schema_version_is_version_1() -> None:
    older = _partial_profile()
    del older["schema_version"]
    assert _errors("profile", older) == []
    assert Profile.model_validate_json(json.dumps(older), extra="ignore").schema_version == 1


def test_a_dead_letter_of_a_later_version_passes_the_schema_and_the_reader_of_this_one() -> None:
    letter = DeadLetter(
        reason="r",
        code="invalid_json",
        source=RecordCoordinates(topic="t", partition=0, offset=1),
        value="",
        value_size=0,
        failed_at=iso_ms(0),
    )
    later = _a_later_version(json.loads(letter.model_dump_json()))
    assert _errors("dead-letter", later) == []
    assert DeadLetter.model_validate_json(json.dumps(later), extra="ignore").code == "invalid_json"


def test_a_request_of_a_later_version_is_read_without_its_additions_and_this_versions_typos_refused() -> None:
    def decode(document: dict[str, Any]) -> RequestEvent:
        return decode_request(json.dumps(document).encode(), max_bytes=10_000, max_fields=8, max_keys=8)

    request = {"pipeline": "customer360", "keys": {"customer_id": "C00042"}, "fields": ["name"]}
    later = decode({**request, "schema_version": 2, "priority": "high"})
    assert (later.schema_version, later.fields) == (2, ["name"])
    assert decode(request).schema_version == 1
    with pytest.raises(RequestError) as typo:
        decode({**request, "feilds": ["name"]})
    assert typo.value.code == "invalid_request"
    with pytest.raises(RequestError):  # a later version still may not break what this one checks
        decode({**request, "schema_version": 2, "priority": "high", "keys": {"customer_id": 42}})
