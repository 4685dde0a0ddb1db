"""Methods group: one path answering every common verb, to see which methods a gateway lets through.

``OPTIONS`` without ``Origin`` + ``Access-Control-Request-Method`` is not a CORS preflight, so it reaches
this handler and gets the JSON body plus ``Allow``; a real preflight is answered by the CORS layer.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.deps import EndpointDeps, needs_deps
from apitest.endpoints.helpers import query_map
from apitest.http import json_response
from apitest.registry import STR, STR_LIST_MAP, Reply, RouteSpec, obj, ok

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
ALLOW = ", ".join(METHODS)


@needs_deps
async def method_echo(request: Request, *, deps: EndpointDeps) -> Response:
    body: dict[str, Any] = {"method": request.method, "path": request.scope["path"]}
    params = query_map(request, deps.sensitive)
    if params:
        body["query"] = params
    headers = {"Allow": ALLOW} if request.method == "OPTIONS" else None
    return json_response(body, headers=headers)


SCHEMA = obj({"method": STR, "path": STR, "query": STR_LIST_MAP}, required=["method", "path"])


def _reply(method: str) -> Reply:
    if method == "HEAD":
        return Reply("Success (headers only).", None)
    if method == "OPTIONS":
        return ok(SCHEMA, "Success, with the allowed methods in Allow.", headers=("Allow",))
    return ok(SCHEMA)


ROUTES = [
    RouteSpec(
        f"method_{method.lower()}",
        method,
        "/v1/method/echo",
        "methods",
        f"Answers {method} with the method, path and query it received; the request body is not read.",
        method_echo,
        responses={200: _reply(method)},
    )
    for method in METHODS
]
