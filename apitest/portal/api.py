"""``/api/v1/portal/*``: the portal's data as JSON, over the same data functions as the pages.

Every route needs PortalAuth (a session cookie, or an ``X-API-Key`` / bearer header); state-changing
routes made with a cookie need the CSRF token in ``X-CSRF-Token``. Errors are ``{"error": "..."}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from apitest import safejson
from apitest.http import error_response, json_response
from apitest.portal import actions, data, info, stream
from apitest.portal.auth import context_of
from apitest.portal.core import api, portal_of
from apitest.portal.data import DataError

Producer = Callable[[Request], Awaitable[Any]]
MAX_TRY_IT_BODY = 1024 * 1024 + 64 * 1024  # the 1 MiB request body, JSON-escaped, plus the other fields


def json_route(producer: Producer) -> Callable[[Request], Awaitable[Response]]:
    @api
    async def endpoint(request: Request) -> Response:
        try:
            body = await producer(request)
        except DataError as exc:
            return error_response(exc.message, exc.status)
        return json_response(body, headers={"Cache-Control": "no-store"})

    endpoint.__name__ = producer.__name__
    return endpoint


def _query(request: Request) -> dict[str, str]:
    return dict(request.query_params)


async def me(request: Request) -> Any:
    identity = context_of(request).identity
    assert identity is not None
    return identity.me()


async def server(request: Request) -> Any:
    return info.server(portal_of(request).services)


async def wellknown(request: Request) -> Any:
    return info.wellknown(portal_of(request).services.settings)


async def discovery(request: Request) -> Any:
    return await info.discovery(request)


async def config(request: Request) -> Any:
    return info.config(portal_of(request).services.settings)


async def about(request: Request) -> Any:
    return await info.about(portal_of(request))


async def dashboard(request: Request) -> Any:
    return await data.dashboard(portal_of(request), _query(request))


async def endpoints(request: Request) -> Any:
    return info.endpoints(portal_of(request).services)


async def endpoint(request: Request) -> Any:
    return info.endpoint(portal_of(request).services, request.path_params["name"])


async def audit_meta(request: Request) -> Any:
    return data.audit_meta(portal_of(request))


async def events(request: Request) -> Any:
    return await data.audit_list(portal_of(request), _query(request))


async def event(request: Request) -> Any:
    return await data.event_detail(portal_of(request), request.path_params["id"])


async def compare(request: Request) -> Any:
    q = _query(request)
    return await data.compare(portal_of(request), q.get("a", ""), q.get("b", ""))


async def timeseries(request: Request) -> Any:
    return await data.timeseries(portal_of(request), _query(request))


async def breakdown(request: Request) -> Any:
    return await data.breakdown(portal_of(request), _query(request))


async def stats(request: Request) -> Any:
    return await data.stats(portal_of(request), _query(request))


async def replay(request: Request) -> Any:
    identity = context_of(request).identity
    assert identity is not None
    return await actions.replay(portal_of(request), request, request.path_params["id"], identity)


async def tryit(request: Request) -> Any:
    portal = portal_of(request)
    services = portal.services
    identity = context_of(request).identity
    assert identity is not None
    group, name = request.path_params["group"], request.path_params["route"]
    spec = next((r for r in services.routes if r.group == group and r.name == name), None)
    if spec is None:
        raise DataError(f"endpoint {group}/{name} not registered", 404)
    raw = await request.body()
    if len(raw) > MAX_TRY_IT_BODY:
        raise DataError("request body too large (the Try-It body is limited to 1 MiB)", 413)
    body: Any = None
    if raw or request.headers.get("content-type"):
        try:
            body = safejson.loads(raw) if raw.strip() else None
        except ValueError as exc:
            raise DataError("invalid JSON body") from exc
    return await actions.try_it(portal, request, spec, actions.try_it_from_json(body), identity)


@api
async def audit_stream(request: Request) -> Response:
    return await stream.stream(request)


@api
async def export_ndjson(request: Request) -> Response:
    return await stream.export(request, "ndjson")


@api
async def export_csv(request: Request) -> Response:
    return await stream.export(request, "csv")


@api
async def export_har(request: Request) -> Response:
    return await stream.export(request, "har")
