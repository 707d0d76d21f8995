"""graphfetch's public event contracts as files: JSON Schemas and an AsyncAPI 3 document.

``graphfetch contracts [--format asyncapi|jsonschema] [--out DIR]`` writes them;
``schemas/`` holds them for ``configs/``, and ``tests/unit/streams/test_contracts.py``
fails when a file there is out of date (docs/spec.md#contract-files).

* :mod:`~streams.contracts.jsonschemas`: the schema of each public event (request,
  profile, dead letter) from its model, and each pipeline's profile schema;
* :mod:`~streams.contracts.asyncapi`: the AsyncAPI document of the public channels;
* :mod:`~streams.contracts.files`: the files' names and texts.
"""

from streams.contracts.asyncapi import asyncapi_document
from streams.contracts.files import (
    ASYNCAPI_FILENAME,
    FORMATS,
    ContractFormat,
    contract_texts,
    write_texts,
)
from streams.contracts.jsonschemas import (
    CONTRACTS,
    Contract,
    contract_schema,
    pipeline_profile_schema,
    profile_filename,
)

__all__ = [
    "ASYNCAPI_FILENAME",
    "CONTRACTS",
    "FORMATS",
    "Contract",
    "ContractFormat",
    "asyncapi_document",
    "contract_schema",
    "contract_texts",
    "pipeline_profile_schema",
    "profile_filename",
    "write_texts",
]
