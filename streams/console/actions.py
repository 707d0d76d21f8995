"""The console's mutating actions: a rollback, a dead letter re-submitted, a request tried.

Each is one short Kafka write, made only after the page checked the token
(:mod:`streams.console.tokens`). "Try a request" is the console's only use of
the public client (:class:`streams.client.GraphfetchClient`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from streams.client import GraphfetchClient
from streams.console.deadletters import DeadLetterEntry, original_bytes
from streams.kafka.factory import make_producer
from streams.liveconfig.configtopic import ActiveRecord, ConfigHistory, now_iso, publish_records
from streams.settings import Settings


class ActionRefused(Exception):
    """The action cannot be done as asked; the message says why and what to do."""


async def rollback(settings: Settings, history: ConfigHistory, *, pipeline: str, to: str) -> None:
    """Make ``to`` the version of ``pipeline`` every worker serves (as ``graphfetch config rollback``)."""
    known = history.versions.get(pipeline, {})
    if to not in known:
        raise ActionRefused(
            f"pipeline '{pipeline}' has no pushed version {to} (known: {', '.join(known) or 'none'})"
        )
    await publish_records(
        settings, [ActiveRecord(pipeline=pipeline, version=to, at=now_iso(), reason="rollback")]
    )


async def resubmit(settings: Settings, entry: DeadLetterEntry) -> None:
    """Send a dead letter's original key and value to the requests topic again, byte for byte."""
    if entry.letter.truncated:
        raise ActionRefused("only the first 64 KiB of this record were kept: it cannot be re-submitted whole")
    key, value = original_bytes(entry.letter)
    producer = make_producer(settings)
    await producer.start()
    try:
        await (await producer.send(settings.requests_topic, value, key=key))
    finally:
        await producer.stop()


async def try_request(
    settings: Settings, *, pipeline: str, keys: Mapping[str, str], fields: Sequence[str] | None
) -> str:
    """Send one request; return its id (its profile arrives on the pipeline's output topic)."""
    async with GraphfetchClient(settings=settings) as client:
        return await client.send(
            pipeline, keys=keys, fields=fields, request_id=f"console-{uuid.uuid4().hex[:10]}-0"
        )
