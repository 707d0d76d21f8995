"""Try a request: a form that sends one; the page then waits for its profile."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from streams.console.actions import ActionRefused, try_request
from streams.console.pages.rendering import Form, render, view_of
from streams.console.tokens import TokenRefused, check_token


def _form(request: Request, *, pipeline: str | None, error: str | None, status_code: int = 200) -> Response:
    view = view_of(request)
    served = view.served()
    chosen = next((p for p in served if p.name == pipeline), served[0] if served else None)
    return render(request, "try.html", status_code=status_code, pipelines=served, chosen=chosen, error=error)


async def page(request: Request) -> Response:
    return _form(request, pipeline=request.query_params.get("pipeline"), error=None)


async def send(request: Request) -> Response:
    view = view_of(request)
    form = await Form.read(request)
    name = form.get("pipeline")
    try:
        check_token(view.settings, form.get("token"))
        served = view.catalog.served(name)
        if served is None:
            raise ActionRefused(f"unknown pipeline '{name}'")
        keys = {k: form.get(f"key.{k}").strip() for k in sorted(served.pipeline.key_names)}
        missing = [k for k, v in keys.items() if not v]
        if missing:
            raise ActionRefused(f"fill in the key(s) {', '.join(missing)}")
        fields = form.getlist("field") or None
        request_id = await try_request(view.settings, pipeline=name, keys=keys, fields=fields)
    except (TokenRefused, ActionRefused) as exc:
        return _form(
            request, pipeline=name, error=str(exc), status_code=403 if isinstance(exc, TokenRefused) else 400
        )
    return RedirectResponse(f"/profiles/{request_id}", status_code=303)


routes = [Route("/try", page, methods=["GET"]), Route("/try", send, methods=["POST"])]
