"""Routes outside ``/v1``: the root banner, liveness and readiness, and the JSON 404/405 answers."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from apitest.endpoints.helpers import services_of
from apitest.forwarded import public_origin
from apitest.http import error_response, json_response


async def root(request: Request) -> Response:
    services = services_of(request)
    settings = services.settings
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
            "endpoints": len(services.routes),
            "links": dict(sorted(links.items())),
            "name": "api-test",
        }
    )


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    if services_of(request).lifecycle.draining:
        return PlainTextResponse("draining", status_code=503)
    return PlainTextResponse("ready")


async def http_error(request: Request, exc: Exception) -> Response:
    """Router misses: unknown path → 404 for every method; known path, wrong method → 405 + ``Allow``."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allow = sorted({m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()})
        return error_response("method not allowed", 405, {"Allow": ", ".join(allow)})
    if exc.status_code == 404:
        return error_response("no such endpoint", 404)
    return error_response(exc.detail, exc.status_code, exc.headers)
