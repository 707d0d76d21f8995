"""What every page handler shares: the cluster view, the templates, the token check of a form."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from streams.console.cluster import ClusterView
from streams.console.profiles import epoch_ms

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")


def _clock(value: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(value / 1000))


def _age(iso: str) -> str:
    seconds = max(0.0, time.time() - epoch_ms(iso) / 1000)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


TEMPLATES.env.filters["clock"] = _clock
TEMPLATES.env.filters["age"] = _age


MAX_FORM_BYTES = 64 * 1024


class Form:
    """An ``application/x-www-form-urlencoded`` body, parsed with the standard library (Starlette's own
    form parser needs python-multipart, a dependency for the handful of small forms here)."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self._fields = fields

    @classmethod
    async def read(cls, request: Request) -> Form:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return cls({})
        return cls(urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))

    def get(self, name: str) -> str:
        values = self._fields.get(name)
        return values[0] if values else ""

    def getlist(self, name: str) -> list[str]:
        return list(self._fields.get(name, []))


def view_of(request: Request) -> ClusterView:
    view: ClusterView = request.app.state.view
    return view


def stopping_of(request: Request) -> asyncio.Event:
    """Set when the console stops: live streams end then."""
    stopping: asyncio.Event = request.app.state.stopping
    return stopping


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> Response:
    view = view_of(request)
    context.setdefault("read_only", view.settings.console_token is None)
    context.setdefault("bootstrap", view.settings.bootstrap)
    context.setdefault("problems", view.problems())
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
