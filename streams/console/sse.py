"""Server-sent events: a stream of ``data:`` lines, each a JSON document (EventSource reads it)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse


def event_stream(documents: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    async def encoded() -> AsyncIterator[bytes]:
        async for document in documents:
            yield f"data: {json.dumps(document, separators=(',', ':'))}\n\n".encode()

    return StreamingResponse(
        encoded(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
