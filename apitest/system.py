"""Routes outside ``/v1``: the root banner, liveness and readiness, and the JSON 404/405 answers."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from apitest.config import Settings
from apitest.forwarded import public_origin
from apitest.http import error_response, json_response
from apitest.lifecycle import Lifecycle


class System:
    """``/`` (the banner), ``/healthz`` and ``/readyz`` of one app."""

    def __init__(self, settings: Settings, lifecycle: Lifecycle, endpoints: int) -> None:
        self.settings = settings
        self.lifecycle = lifecycle
        self.endpoints = endpoints  # how many /v1 routes are enabled

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.root, methods=["GET"]),
            Route("/healthz", Healthz(), methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
        ]

    async def root(self, request: Request) -> Response:
        return root_response(request, self.settings, self.endpoints)

    async def readyz(self, request: Request) -> Response:
        if self.lifecycle.draining:
            return PlainTextResponse("draining", status_code=503)
        return PlainTextResponse("ready")


def root_response(request: Request, settings: Settings, endpoints: int) -> Response:
    if settings.portal.enabled and "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(public_origin(request.scope, settings).prefix + "/portal/", status_code=302)
    links = {
        "docs": "/docs",
        "healthz": "/healthz",
        "openapi_json": "/openapi.json",
        "openapi_yaml": "/openapi.yaml",
        "readyz": "/readyz",
    }
    if settings.portal.enabled:
        links["portal"] = "/portal/"
    return json_response(
        {
            "endpoint_groups": settings.enabled_groups(),
            "endpoints": endpoints,
            "links": dict(sorted(links.items())),
            "name": "api-test",
        }
    )


class Healthz:
    """``GET /healthz``: always ``ok`` while the process serves. A plain ASGI app with its answer built once:
    load balancers and probes call it often, and it needs no request object (docs/performance.md)."""

    BODY = b"ok"
    HEADERS = [(b"content-length", b"2"), (b"content-type", b"text/plain; charset=utf-8")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(self.HEADERS)})
        await send({"type": "http.response.body", "body": self.BODY})


async def http_error(request: Request, exc: Exception) -> Response:
    """Router misses: unknown path → 404 for every method; known path, wrong method → 405 + ``Allow``."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allow = sorted({m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()})
        return error_response("method not allowed", 405, {"Allow": ", ".join(allow)})
    if exc.status_code == 404:
        return error_response("no such endpoint", 404)
    return error_response(exc.detail, exc.status_code, exc.headers)
