"""The DLQ: counts per reason code over the last half hour, the newest records, re-submitting one."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from streams.console.actions import ActionRefused, resubmit
from streams.console.deadletters import safe_preview
from streams.console.pages.rendering import Form, render, view_of
from streams.console.tokens import TokenRefused, check_token

PAGE_SIZE = 100
CHART_MINUTES = 30


async def index(request: Request) -> Response:
    view = view_of(request)
    book = view.dead_letters
    code = request.query_params.get("code") or None
    entries = []
    for entry in book.newest(code=code):
        entries.append(entry)
        if len(entries) >= PAGE_SIZE:
            break
    minutes = book.per_minute(now_ms=time.time() * 1000, minutes=CHART_MINUTES)
    sensitive = view.catalog.sensitive_keys()
    return render(
        request,
        "deadletters.html",
        entries=entries,
        previews={e.ref: safe_preview(e.letter, sensitive) for e in entries},
        totals=book.totals.most_common(),
        minutes=minutes,
        peak=max((sum(c.values()) for _, c in minutes), default=0),
        codes=sorted(book.totals),
        code=code,
        kept=len(book),
        notice=request.query_params.get("resubmitted"),
        error=None,
    )


async def do_resubmit(request: Request) -> Response:
    view = view_of(request)
    form = await Form.read(request)
    ref = form.get("ref")
    try:
        partition, _, offset = ref.partition("-")
        entry = (
            view.dead_letters.get(int(partition), int(offset))
            if partition.isdigit() and offset.isdigit()
            else None
        )
        if entry is None:
            raise ActionRefused(f"no dead letter {ref!r} is kept by this console")
        check_token(view.settings, form.get("token"))
        await resubmit(view.settings, entry)
    except (TokenRefused, ActionRefused) as exc:
        return render(
            request,
            "refused.html",
            status_code=403 if isinstance(exc, TokenRefused) else 400,
            error=str(exc),
            back="/dlq",
        )
    return RedirectResponse(f"/dlq?resubmitted={ref}", status_code=303)


routes = [Route("/dlq", index), Route("/dlq/resubmit", do_resubmit, methods=["POST"])]
