"""The small failure-lab endpoints: scoped access, a resource that may not exist, an explicit rate limit,
and a real crash."""

from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.helpers import non_negative_bounded
from apitest.endpoints.lab_limits import STATE_KEY, Decision, explicit_limit
from apitest.endpoints.lab_orders import WORKER_HEADER
from apitest.endpoints.seeded import item_value
from apitest.failures import note_failure
from apitest.http import ParamError, error_response, json_response, parse_int
from apitest.outcome import identity_of

RESOURCE_MAX_ID = 9999  # the pagination data set: ids 0..9999
MAX_AGE_DEFAULT, MAX_AGE_MAX = 60, 86400


class CrashRequested(RuntimeError):
    """Raised on purpose by ``/v1/crash``: the server's real unhandled-exception path."""


async def scoped(request: Request) -> Response:
    """Reached only when the caller holds the scope named in the path (the auth stage checks it)."""
    return json_response({"scope": request.path_params["scope"], "identity": identity_of(request).whoami()})


def etag_matches(header: str, etag: str) -> bool:
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return "*" in candidates or etag in candidates


async def resource(request: Request) -> Response:
    raw = request.path_params["id"]
    rid = parse_int(raw)
    if rid is None:
        raise ParamError("id must be an integer")
    max_age = non_negative_bounded(request, "max_age", MAX_AGE_DEFAULT, MAX_AGE_MAX)
    if not 0 <= rid <= RESOURCE_MAX_ID:
        message = f"resource {rid} not found"
        note_failure(request.scope, "not_found", message)
        return error_response(message, 404)
    value = item_value(rid)
    headers = {"ETag": f'"{value}"', "Cache-Control": f"public, max-age={max_age}"}
    if etag_matches(request.headers.get("if-none-match", ""), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return json_response({"id": rid, "value": value}, headers=headers)


async def limited(request: Request) -> Response:
    limit = explicit_limit(request.query_params)
    decision = request.scope.get("state", {}).get(STATE_KEY)
    if not isinstance(decision, Decision):
        raise RuntimeError("/v1/limited runs only behind the rate-limit stage")
    body = {"limit": limit.limit, "window_s": limit.window_s, "remaining": decision.remaining}
    return json_response(body | {"reset": decision.reset_seconds}, headers={WORKER_HEADER: str(os.getpid())})


async def crash(request: Request) -> Response:
    raise CrashRequested(f"crash requested by {request.method} {request.url.path}")
