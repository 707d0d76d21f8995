"""``/_control`` (fault knobs at run time) and ``/_stats`` (call counters) endpoints.

=======  ======================  ================================================
method   path                    does
=======  ======================  ================================================
GET      ``/_control``           the knobs of every service
GET      ``/_control/{service}`` the knobs of one service
PUT      ``/_control/{service}`` merge a JSON object of knobs; ``default``: all
DELETE   ``/_control``           back to the start knobs (random draws restart)
GET      ``/_stats``             calls, errors, in_flight, max_in_flight per service
DELETE   ``/_stats``             zero the counters (in-flight calls stay counted)
=======  ======================  ================================================
"""

from __future__ import annotations

import json

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devkit.demo.call_counts import StatsBook
from devkit.demo.faults import FaultInjector
from devkit.demo.server_settings import DEFAULT_FAULTS, SERVICES


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class _Control:
    def __init__(self, *, faults: FaultInjector, stats: StatsBook) -> None:
        self._faults = faults
        self._stats = stats

    def _all_knobs(self) -> JSONResponse:
        return JSONResponse({s: knobs.model_dump() for s, knobs in self._faults.knobs().items()})

    async def knobs(self, request: Request) -> JSONResponse:
        return self._all_knobs()

    async def service_knobs(self, request: Request) -> JSONResponse:
        service = request.path_params["service"]
        if service not in SERVICES:
            return _unknown_service(service)
        return JSONResponse(self._faults.knobs()[service].model_dump())

    async def update(self, request: Request) -> JSONResponse:
        service = request.path_params["service"]
        if service != DEFAULT_FAULTS and service not in SERVICES:
            return _unknown_service(service, with_default=True)
        targets = SERVICES if service == DEFAULT_FAULTS else (service,)
        try:
            patch = json.loads(await request.body())
        except ValueError:
            return _error(422, "body must be a JSON object of fault knobs")
        if not isinstance(patch, dict):
            return _error(422, "body must be a JSON object of fault knobs")
        try:
            self._faults.update(targets, patch)
        except ValidationError as exc:
            return _error(422, _problems(exc))
        if service == DEFAULT_FAULTS:
            return self._all_knobs()
        return JSONResponse(self._faults.knobs()[service].model_dump())

    async def reset(self, request: Request) -> JSONResponse:
        self._faults.reset()
        return self._all_knobs()

    async def stats(self, request: Request) -> JSONResponse:
        return JSONResponse(self._stats.snapshot())

    async def reset_stats(self, request: Request) -> JSONResponse:
        self._stats.reset()
        return JSONResponse(self._stats.snapshot())


def _unknown_service(service: str, *, with_default: bool = False) -> JSONResponse:
    choices = ", ".join((DEFAULT_FAULTS, *SERVICES) if with_default else SERVICES)
    return _error(404, f"unknown service {service!r}: choose one of {choices}")


def _problems(error: ValidationError) -> str:
    """One line naming each bad knob and what is wrong with it."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())


def control_routes(*, faults: FaultInjector, stats: StatsBook) -> list[Route]:
    """The routes of the control plane, sharing the app's injector and counters."""
    control = _Control(faults=faults, stats=stats)
    return [
        Route("/_control", control.knobs, methods=["GET"]),
        Route("/_control", control.reset, methods=["DELETE"]),
        Route("/_control/{service}", control.service_knobs, methods=["GET"]),
        Route("/_control/{service}", control.update, methods=["PUT"]),
        Route("/_stats", control.stats, methods=["GET"]),
        Route("/_stats", control.reset_stats, methods=["DELETE"]),
    ]
