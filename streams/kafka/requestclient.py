"""Client side of graphfetch on Kafka: produce requests, read profiles, wait for one profile.

These are what ``graphfetch produce``, ``consume`` and ``request`` run; service
teams can use them as examples of plain aiokafka code (nothing here is needed
to talk to graphfetch).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from opentelemetry import trace

from streams.kafka.factory import make_producer
from streams.kafka.topicreader import WholeTopic
from streams.settings import Settings
from streams.telemetry.tracing import headers_for, tracer

_COUNTER = re.compile(r"\{i(?::0(\d+)d)?\}")


def expand_counter(value: str, i: int) -> str:
    """``C{i:05d}`` -> ``C00042`` for request number 42; ``{i}`` -> ``42``."""
    return _COUNTER.sub(lambda m: f"{i:0{m.group(1)}d}" if m.group(1) else str(i), value)


def request_payload(
    pipeline: str,
    keys: Mapping[str, str],
    *,
    request_id: str,
    fields: Sequence[str] | None = None,
    deadline_ms: float | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"request_id": request_id, "pipeline": pipeline, "keys": dict(keys)}
    if fields:
        payload["fields"] = list(fields)
    if deadline_ms is not None:
        payload["deadline_ms"] = deadline_ms
    return payload


async def produce_requests(
    settings: Settings,
    pipeline: str,
    keys: Mapping[str, str],
    *,
    count: int = 1,
    fields: Sequence[str] | None = None,
    deadline_ms: float | None = None,
    rate: float | None = None,
    progress: Callable[[int], None] | None = None,
    id_prefix: str | None = None,
) -> list[str]:
    """Send ``count`` requests (``{i}`` in key values is the request number); return their ids."""
    producer = make_producer(settings, linger_ms=max(settings.linger_ms, 2))
    await producer.start()
    prefix = id_prefix or uuid.uuid4().hex[:10]
    ids: list[str] = []
    started = time.monotonic()
    try:
        pending = []
        for i in range(count):
            if rate:
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            request_id = f"{prefix}-{i}"
            payload = request_payload(
                pipeline,
                {k: expand_counter(v, i) for k, v in keys.items()},
                request_id=request_id,
                fields=fields,
                deadline_ms=deadline_ms,
            )
            with tracer.start_as_current_span(
                f"send {pipeline}",
                kind=trace.SpanKind.PRODUCER,
                attributes={"graphfetch.request_id": request_id},
            ) as span:
                pending.append(
                    await producer.send(
                        settings.requests_topic,
                        json.dumps(payload).encode(),
                        key=request_id.encode(),
                        headers=headers_for(span),
                    )
                )
            ids.append(request_id)
            if progress:
                progress(1)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return ids


async def read_topic(
    settings: Settings, topic: str, *, follow: bool, idle_s: float = 1.0, since_ms: int | None = None
) -> AsyncIterator[tuple[bytes | None, bytes | None]]:
    """Yield (key, value) of the records of ``topic`` (from ``since_ms`` or the beginning); without
    ``follow``, stop once no record arrived for ``idle_s`` (see :class:`~streams.kafka.topicreader.WholeTopic`)."""
    async with WholeTopic(settings, topic, since_ms=since_ms) as reader:
        async for records in reader.batches(idle_s=None if follow else idle_s):
            for record in records:
                yield record.key, record.value


async def wait_for_profile(
    settings: Settings, topic: str, request_id: str, *, timeout_s: float, since_ms: int | None = None
) -> dict[str, Any] | None:
    """Read ``topic`` until the profile of ``request_id`` appears, or None after ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            async for _, value in read_topic(settings, topic, follow=True, since_ms=since_ms):
                if value is None:
                    continue
                try:
                    profile = json.loads(value)
                except ValueError:
                    continue
                if isinstance(profile, dict) and profile.get("request_id") == request_id:
                    return profile
    except TimeoutError:
        return None
    return None
