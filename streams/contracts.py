"""The JSON Schemas of the public events, generated from their models.

``schemas/`` holds one file per event that users produce or consume
(docs/spec.md#3-events), generated the way ``configs/pipeline.schema.json`` is
(:mod:`planner.schema`); a test fails when a file is out of date with the models.
Regenerate them with::

    python -m streams.contracts            # writes schemas/*.schema.json

What users send is described as it is validated (optional fields may be left
out); what they receive, as it is serialized (every field is always present).
Internal events (tasks, accepted, result and completed records) are the team's
to change and have no published schema.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from planner import Profile
from planner.schema import SCHEMA_DIALECT
from streams.events import DeadLetter, RequestEvent

SCHEMA_BASE_URL = "https://graphfetch.dev/schemas/"
SCHEMAS_FOLDER = Path("schemas")


@dataclass(frozen=True, kw_only=True)
class Contract:
    """One public event: its model, and the file its schema is published as."""

    name: str
    model: type[BaseModel]
    mode: JsonSchemaMode

    @property
    def filename(self) -> str:
        return f"{self.name}.schema.json"


CONTRACTS = (
    Contract(name="request", model=RequestEvent, mode="validation"),
    Contract(name="profile", model=Profile, mode="serialization"),
    Contract(name="dead-letter", model=DeadLetter, mode="serialization"),
)


def contract_schema(contract: Contract) -> dict[str, Any]:
    schema = contract.model.model_json_schema(mode=contract.mode)
    return {"$schema": SCHEMA_DIALECT, "$id": SCHEMA_BASE_URL + contract.filename, **schema}


def contract_schema_text(contract: Contract) -> str:
    """The schema as the text of its file in ``schemas/`` (stable, sorted, newline-ended)."""
    return json.dumps(contract_schema(contract), indent=2, sort_keys=True) + "\n"


def write_contracts(folder: Path = SCHEMAS_FOLDER) -> list[Path]:
    """Write every contract's schema into ``folder``; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for contract in CONTRACTS:
        path = folder / contract.filename
        path.write_text(contract_schema_text(contract), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_contracts(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMAS_FOLDER):
        print(written_path)
