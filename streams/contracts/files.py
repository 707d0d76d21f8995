"""The contract files ``graphfetch contracts`` writes, as texts: stable, sorted, newline-ended."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from planner import Pipeline
from streams.contracts.asyncapi import asyncapi_document
from streams.contracts.jsonschemas import (
    CONTRACTS,
    contract_schema,
    pipeline_profile_schema,
    profile_filename,
)
from streams.settings import Settings

ContractFormat = Literal["asyncapi", "jsonschema"]
FORMATS: tuple[ContractFormat, ...] = get_args(ContractFormat)
ASYNCAPI_FILENAME = "asyncapi.yaml"


def json_text(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def yaml_text(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True, width=100)


def contract_texts(
    settings: Settings, pipelines: Mapping[str, Pipeline], *, formats: Collection[ContractFormat] = FORMATS
) -> dict[str, str]:
    """File name -> text of every contract file of ``formats``, for these topics and pipelines."""
    texts: dict[str, str] = {}
    if "jsonschema" in formats:
        for contract in CONTRACTS:
            texts[contract.filename] = json_text(contract_schema(contract))
        for pipeline in sorted(pipelines.values(), key=lambda p: p.name):
            texts[profile_filename(pipeline)] = json_text(pipeline_profile_schema(pipeline))
    if "asyncapi" in formats:
        texts[ASYNCAPI_FILENAME] = yaml_text(asyncapi_document(settings, pipelines))
    return texts


def write_texts(texts: Mapping[str, str], folder: Path) -> list[Path]:
    """Write each text to its file in ``folder`` (created if needed); the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in texts.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
