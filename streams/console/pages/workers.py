"""Workers and groups: members per role, their partitions, committed offsets and lag."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streams.console.pages.rendering import render, view_of


async def page(request: Request) -> Response:
    view = view_of(request)
    groups = await view.groups.groups()
    return render(request, "workers.html", groups=groups, peers=view.history.peers())


routes = [Route("/workers", page)]
