"""The AsyncAPI 3 document of graphfetch's public channels, from the event models and the loaded pipelines.

It describes graphfetch as an application: it receives requests on the requests
topic, and sends each pipeline's profiles on that pipeline's output topic
(keyed by its ``output.key``) and dead letters on the DLQ. The payload schemas
are those of :mod:`streams.contracts.jsonschemas`, their ``$defs`` moved under
``components.schemas``; each pipeline's profile names its fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from planner import SCHEMA_VERSION, Pipeline
from streams.contracts.jsonschemas import (
    DEAD_LETTER,
    PROFILE,
    REQUEST,
    model_schema,
    pipeline_profile_body,
    without_defs,
)
from streams.settings import Settings

ASYNCAPI_VERSION = "3.1.0"
KAFKA_BINDING_VERSION = "0.5.0"
SCHEMAS_REF = "#/components/schemas/"
_NOT_IN_IDS = re.compile(r"[^A-Za-z0-9_-]+")

_TRACE_HEADERS = {
    "type": "object",
    "properties": {
        "traceparent": {
            "type": "string",
            "description": "W3C trace context; on a request, makes graphfetch's trace a child of the sender's.",
        }
    },
}


def asyncapi_document(settings: Settings, pipelines: Mapping[str, Pipeline]) -> dict[str, Any]:
    """The document for these topic names (``settings``) and pipelines."""
    schemas: dict[str, Any] = {}
    request = _component(schemas, "Request", model_schema(REQUEST))
    profile = _component(schemas, "Profile", model_schema(PROFILE))
    dead_letter = _component(schemas, "DeadLetter", model_schema(DEAD_LETTER))
    messages: dict[str, Any] = {
        "request": _message(
            "A request for a profile",
            request,
            key="The request id, or an entity key (any string, or none; graphfetch does not read it).",
            nullable=True,
        ),
        "deadLetter": _message("A request graphfetch could not process, with the reason", dead_letter),
        "failedProfile": _message(
            "The failed profile of a request whose pipeline has no current version (status failed, "
            "errors.pipeline of kind unknown_version)",
            profile,
        ),
    }
    channels: dict[str, Any] = {
        "requests": _channel(
            settings.requests_topic, "Requests for profiles, from producing services.", ["request"]
        ),
        "deadLetters": _channel(
            settings.dlq_topic,
            "Requests that could not be processed; consumers tell the two messages apart by `code` "
            "(dead letter) or `status` (profile).",
            ["deadLetter", "failedProfile"],
        ),
    }
    operations: dict[str, Any] = {
        "receiveRequests": _operation("receive", "requests", ["request"], "Plans and serves each request."),
        "sendDeadLetters": _operation(
            "send", "deadLetters", ["deadLetter", "failedProfile"], "Refused requests, with their reason."
        ),
    }
    for topic, on_topic in _by_output_topic(pipelines.values()).items():
        channel_id = "output_" + _NOT_IN_IDS.sub("_", topic)
        ids = []
        for pipeline in on_topic:
            message_id = f"profile.{pipeline.name}"
            body = _component(schemas, f"Profile.{pipeline.name}", pipeline_profile_body(pipeline))
            key = (
                f"`{pipeline.config.output.key}` (JMESPath over the request's keys), as a string; "
                "none when it gives null or fails"
            )
            messages[message_id] = _message(
                f"A profile of pipeline {pipeline.name}", body, key=key, nullable=True
            )
            ids.append(message_id)
        names = ", ".join(p.name for p in on_topic)
        channels[channel_id] = _channel(topic, f"Profiles of {names}.", ids)
        operations[f"send_{channel_id}"] = _operation(
            "send", channel_id, ids, f"Publishes profiles of {names}."
        )
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "graphfetch",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": (
                "Request-time data retrieval on Kafka: a request names a pipeline and keys; graphfetch "
                "fetches the pipeline's sources and publishes the profile on the pipeline's output topic. "
                "Events are JSON (UTF-8) carrying `schema_version` "
                f"({SCHEMA_VERSION}); a later version only adds properties, which readers ignore."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _by_output_topic(pipelines: Iterable[Pipeline]) -> dict[str, list[Pipeline]]:
    topics: dict[str, list[Pipeline]] = {}
    for pipeline in sorted(pipelines, key=lambda p: p.name):
        topics.setdefault(pipeline.config.output.topic, []).append(pipeline)
    return dict(sorted(topics.items()))


def _component(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> dict[str, str]:
    """Add ``schema`` and its definitions to ``components.schemas``; a reference to it."""
    body, defs = without_defs(schema, refs_to=SCHEMAS_REF)
    for def_name, definition in defs.items():
        if schemas.setdefault(def_name, definition) != definition:
            raise ValueError(f"two event models define {def_name!r} differently")
    schemas[name] = body
    return {"$ref": SCHEMAS_REF + name}


def _message(
    summary: str, payload: dict[str, str], *, key: str | None = None, nullable: bool = False
) -> dict[str, Any]:
    """A message; ``key`` describes its Kafka key (a string, or absent if ``nullable``), None: no key."""
    message: dict[str, Any] = {"summary": summary, "payload": payload, "headers": _TRACE_HEADERS}
    key_schema: dict[str, Any] = {"type": "null", "description": "No key."}
    if key is not None:
        key_schema = {"type": ["string", "null"] if nullable else "string", "description": key}
    message["bindings"] = {"kafka": {"key": key_schema, "bindingVersion": KAFKA_BINDING_VERSION}}
    return message


def _channel(topic: str, description: str, message_ids: list[str]) -> dict[str, Any]:
    return {
        "address": topic,
        "description": description,
        "messages": {mid: {"$ref": f"#/components/messages/{mid}"} for mid in message_ids},
        "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING_VERSION}},
    }


def _operation(action: str, channel_id: str, message_ids: list[str], description: str) -> dict[str, Any]:
    return {
        "action": action,
        "description": description,
        "channel": {"$ref": f"#/channels/{channel_id}"},
        "messages": [{"$ref": f"#/channels/{channel_id}/messages/{mid}"} for mid in message_ids],
    }
