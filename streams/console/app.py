"""The console's Starlette application: pages, their routes, templates and static files.

``create_app(view)`` serves an already started :class:`ClusterView`; the
caller owns the view's lifecycle (:func:`streams.console.server.serve_console`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from streams.console.cluster import ClusterView
from streams.console.pages import deadletters, health, pipelines, profiles, trying, workers

HERE = Path(__file__).parent


async def _home(_request: object) -> Response:
    return RedirectResponse("/pipelines", status_code=302)


def create_app(view: ClusterView, *, stopping: asyncio.Event | None = None) -> Starlette:
    """The console's pages over ``view``; ``stopping``, once set, ends the live streams (so that a
    server stops without waiting for the browsers that keep one open)."""
    routes = [
        Route("/", _home),
        *pipelines.routes,
        *health.routes,
        *profiles.routes,
        *deadletters.routes,
        *workers.routes,
        *trying.routes,
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.view = view
    app.state.stopping = stopping or asyncio.Event()
    return app
