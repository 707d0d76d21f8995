"""Pipelines: each with its served version; one pipeline's graph, versions, a diff and a rollback."""

from __future__ import annotations

from collections import Counter

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from planner import GraphShape, Pipeline, RequestError, graph_shape
from streams.console.actions import ActionRefused, rollback
from streams.console.graph_svg import graph_svg
from streams.console.health import Figures, figures
from streams.console.pages.rendering import Form, render, view_of
from streams.console.tokens import TokenRefused, check_token
from streams.engine.history import HistoryKey


async def index(request: Request) -> Response:
    view = view_of(request)
    catalog = view.catalog
    counts = Counter((entry.profile.pipeline, entry.profile.status) for entry in view.profiles.newest())
    rows = []
    for name in catalog.names():
        served = catalog.served(name)
        rows.append(
            {
                "name": name,
                "served": served,
                "removed": catalog.removed(name),
                "versions": len(catalog.versions(name)),
                "statuses": {status: counts[name, status] for status in ("complete", "partial", "failed")},
            }
        )
    return render(request, "pipelines.html", rows=rows, folder_problem=catalog.folder_problem)


def _shape(pipeline: Pipeline, wanted: list[str]) -> tuple[GraphShape, str | None]:
    try:
        return graph_shape(pipeline, wanted or None), None
    except RequestError as exc:
        return graph_shape(pipeline), str(exc)


async def detail(request: Request) -> Response:
    view = view_of(request)
    name = request.path_params["name"]
    served = view.catalog.served(name)
    if served is None:
        return render(request, "missing.html", status_code=404, what=f"pipeline {name}", back="/pipelines")
    pipeline = served.pipeline
    wanted = [f for f in request.query_params.getlist("field") if f]
    shape, problem = _shape(pipeline, wanted)
    per_node: dict[str, Figures] = {n: figures(view.history, HistoryKey.node(name, n)) for n in shape.nodes}
    cost = {n: f.p50 if f.p50 is not None else pipeline.nodes[n].timeout_ms for n, f in per_node.items()}
    path, total = shape.critical_path(cost)
    versions = view.catalog.versions(name)
    active = view.catalog.history.active.get(name)
    older = request.query_params.get("a")
    newer = request.query_params.get("b")
    diff = view.catalog.diff(name, older, newer) if older and newer else None
    return render(
        request,
        "pipeline.html",
        pipeline=pipeline,
        origin=served.origin,
        shape=shape,
        svg=graph_svg(shape, pipeline, per_node, path),
        critical_path=path,
        critical_ms=total,
        history_complete=all(per_node[n].p50 is not None for n in path),
        wanted=set(shape.fields) if wanted and problem is None else set(),
        problem=problem,
        versions=versions,
        active=active.version if active else None,
        older=older,
        newer=newer,
        diff=diff,
    )


async def confirm_rollback(request: Request) -> Response:
    view = view_of(request)
    name = request.path_params["name"]
    target = request.query_params.get("to", "")
    served = view.catalog.served(name)
    return render(
        request,
        "rollback.html",
        name=name,
        target=target,
        current=served.pipeline.version if served else None,
        diff=view.catalog.diff(name, served.pipeline.version, target) if served else None,
        error=None,
    )


async def do_rollback(request: Request) -> Response:
    view = view_of(request)
    name = request.path_params["name"]
    form = await Form.read(request)
    target = form.get("to")
    try:
        check_token(view.settings, form.get("token"))
        await rollback(view.settings, view.catalog.history, pipeline=name, to=target)
    except (TokenRefused, ActionRefused) as exc:
        served = view.catalog.served(name)
        return render(
            request,
            "rollback.html",
            status_code=403 if isinstance(exc, TokenRefused) else 400,
            name=name,
            target=target,
            current=served.pipeline.version if served else None,
            diff=None,
            error=str(exc),
        )
    return RedirectResponse(f"/pipelines/{name}?rolled_back={target}", status_code=303)


routes = [
    Route("/pipelines", index),
    Route("/pipelines/{name}", detail),
    Route("/pipelines/{name}/rollback", confirm_rollback, methods=["GET"]),
    Route("/pipelines/{name}/rollback", do_rollback, methods=["POST"]),
]
