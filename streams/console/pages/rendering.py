"""What every page handler shares: the cluster view, the templates, the token check of a form."""

from __future__ import annotations

import time
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


def view_of(request: Request) -> ClusterView:
    view: ClusterView = request.app.state.view
    return view


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> Response:
    view = view_of(request)
    context.setdefault("read_only", view.settings.console_token is None)
    context.setdefault("bootstrap", view.settings.bootstrap)
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
