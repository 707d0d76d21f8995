"""The JSON Schema of the pipeline config format, generated from the models."""

from __future__ import annotations

import json
from typing import Any

from planner.config import PipelineConfig

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def pipeline_json_schema() -> dict[str, Any]:
    schema = PipelineConfig.model_json_schema(mode="validation")
    return {"$schema": SCHEMA_DIALECT, **schema}


def pipeline_json_schema_text() -> str:
    """The schema as the text of ``configs/pipeline.schema.json`` (stable, sorted, newline-ended)."""
    return json.dumps(pipeline_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(pipeline_json_schema_text(), end="")
