"""``configs/pipeline.schema.json`` is generated from the config models and describes the examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from planner import pipeline_json_schema, pipeline_json_schema_text

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
REGENERATE = "python -m planner.schema > configs/pipeline.schema.json"


def test_committed_schema_matches_the_models() -> None:
    committed = (CONFIGS / "pipeline.schema.json").read_text(encoding="utf-8")
    assert committed == pipeline_json_schema_text(), (
        f"configs/pipeline.schema.json is out of date with planner/config.py; regenerate it with: {REGENERATE}"
    )


def test_schema_text_is_the_schema_as_sorted_json() -> None:
    text = pipeline_json_schema_text()
    assert text.endswith("}\n")
    assert json.loads(text) == pipeline_json_schema()
    assert json.loads(text)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("name", ["customer360.yaml", "order_tracking.yaml"])
def test_example_config_validates_against_the_schema(name: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    document = yaml.safe_load((CONFIGS / name).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(pipeline_json_schema())
    assert [error.message for error in validator.iter_errors(document)] == []


def test_schema_rejects_what_the_models_reject() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    document = yaml.safe_load((CONFIGS / "customer360.yaml").read_text(encoding="utf-8"))
    document["nodes"]["customer"]["retries"] = "many"
    document["nodes"]["customer"]["requets"] = {}
    validator = jsonschema.Draft202012Validator(pipeline_json_schema())
    assert len(list(validator.iter_errors(document))) == 2
