"""The JSON Schemas (draft 2020-12) of the public events, generated from their models.

What users send (the request) is described as it is validated: optional
properties may be left out, unknown ones are refused. What they receive (the
profile, the dead letter) is described as it is serialized: every property is
present, and the schema stays open to properties a later contract version adds
(docs/spec.md#versioning), so a consumer validating with this version keeps
accepting them. Internal events have no published schema.

:func:`pipeline_profile_schema` narrows the profile to one pipeline: its name,
the keys it reads and the fields of its ``data``, each described by its
expression.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from planner import Pipeline, Profile
from planner.schema import SCHEMA_DIALECT
from streams.events import DeadLetter, RequestEvent

SCHEMA_BASE_URL = "https://graphfetch.dev/schemas/"


@dataclass(frozen=True, kw_only=True)
class Contract:
    """One public event: its model, how it is described, and the file its schema is published as."""

    name: str
    model: type[BaseModel]
    mode: JsonSchemaMode

    @property
    def filename(self) -> str:
        return f"{self.name}.schema.json"


REQUEST = Contract(name="request", model=RequestEvent, mode="validation")
PROFILE = Contract(name="profile", model=Profile, mode="serialization")
DEAD_LETTER = Contract(name="dead-letter", model=DeadLetter, mode="serialization")
CONTRACTS = (REQUEST, PROFILE, DEAD_LETTER)


def model_schema(contract: Contract) -> dict[str, Any]:
    """The model's schema (``$defs`` and ``#/$defs/`` references), open to later properties when received."""
    schema = contract.model.model_json_schema(mode=contract.mode)
    if contract.mode == "serialization":
        _open(schema)
        # Written by every producer of this version, but absent from events of older producers.
        schema["required"] = [name for name in schema["required"] if name != "schema_version"]
    return schema


def contract_schema(contract: Contract) -> dict[str, Any]:
    """The schema as published: with its dialect and ``$id``."""
    return {"$schema": SCHEMA_DIALECT, "$id": SCHEMA_BASE_URL + contract.filename, **model_schema(contract)}


def profile_filename(pipeline: Pipeline) -> str:
    return f"profile.{pipeline.name}.schema.json"


def pipeline_profile_body(pipeline: Pipeline) -> dict[str, Any]:
    """The profile's schema narrowed to ``pipeline`` (``$defs`` still local)."""
    schema = model_schema(PROFILE)
    properties = schema["properties"]
    config = pipeline.config
    schema["title"] = f"Profile of {pipeline.name}"
    schema["description"] = (
        f"{config.description or 'The profile of pipeline ' + pipeline.name}. "
        f"Published on {config.output.topic}, keyed by `{config.output.key}`."
    )
    properties["pipeline"] = {**properties["pipeline"], "const": pipeline.name}
    key_names = sorted(pipeline.key_names | set(config.keys))
    properties["keys"] = {
        **properties["keys"],
        "properties": {name: _key_schema(pipeline, name) for name in key_names},
    }
    field_names = sorted(pipeline.fields)
    properties["data"] = {
        **properties["data"],
        "properties": {
            name: {
                "description": f"`{pipeline.fields[name].source}`; absent when its node or expression failed."
            }
            for name in field_names
        },
    }
    properties["lineage"] = {
        **properties["lineage"],
        "properties": {name: {"$ref": "#/$defs/Lineage"} for name in field_names},
    }
    return schema


def pipeline_profile_schema(pipeline: Pipeline) -> dict[str, Any]:
    """The pipeline's profile schema as published in its own file."""
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_BASE_URL + profile_filename(pipeline),
        **pipeline_profile_body(pipeline),
    }


def _key_schema(pipeline: Pipeline, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    spec = pipeline.config.keys.get(name)
    if spec is not None:
        schema["maxLength"] = spec.max_length
        if spec.pattern is not None:
            schema["pattern"] = f"^(?:{spec.pattern})$"
        if spec.description:
            schema["description"] = spec.description
    return schema


def _open(schema: Any) -> None:
    """Drop ``additionalProperties: false`` everywhere: readers ignore what a later version adds."""
    if isinstance(schema, dict):
        if schema.get("additionalProperties") is False:
            del schema["additionalProperties"]
        for value in schema.values():
            _open(value)
    elif isinstance(schema, list):
        for item in schema:
            _open(item)


def without_defs(schema: dict[str, Any], *, refs_to: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``schema`` without its ``$defs``, its references rewritten to point under ``refs_to``; and the defs."""
    body = copy.deepcopy(schema)
    defs = body.pop("$defs", {})
    _rewrite_refs(body, refs_to)
    _rewrite_refs(defs, refs_to)
    return body, defs


def _rewrite_refs(schema: Any, refs_to: str) -> None:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            schema["$ref"] = refs_to + ref.removeprefix("#/$defs/")
        for value in schema.values():
            _rewrite_refs(value, refs_to)
    elif isinstance(schema, list):
        for item in schema:
            _rewrite_refs(item, refs_to)
