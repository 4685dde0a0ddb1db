"""Handlers that need the app's collaborators are bound once, by create_app, to its EndpointDeps."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from apitest.attempts import AttemptCounters
from apitest.endpoints import ROUTES_BY_GROUP, bind_routes
from apitest.endpoints.deps import EndpointDeps, Unbound, needs_deps
from apitest.http import json_response
from apitest.idempotency import MemoryIdempotencyStore
from apitest.registry import RouteSpec
from tests.support import make_settings

ALL = [r for routes in ROUTES_BY_GROUP.values() for r in routes]


def deps(**overrides: object) -> EndpointDeps:
    return EndpointDeps(make_settings(overrides or None), AttemptCounters(None), MemoryIdempotencyStore(60))


def request(path: str = "/v1/x") -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""})


def test_every_marked_handler_is_bound_and_the_others_are_kept() -> None:
    marked = [r for r in ALL if isinstance(r.handler, Unbound)]
    assert marked, "some handlers need collaborators (echo, attempts, orders, webhooks ...)"
    bound = bind_routes(ALL, deps())
    assert not [r.name for r in bound if isinstance(r.handler, Unbound)]
    assert [r for r, b in zip(ALL, bound, strict=True) if not isinstance(r.handler, Unbound) and b is not r] == []


async def test_a_marked_handler_refuses_to_run_unbound() -> None:
    [spec] = [r for r in ALL if r.name == "headers"]
    with pytest.raises(LookupError, match="routes are bound by create_app"):
        await spec.handler(request("/v1/headers"))


async def test_the_bound_handler_gets_the_apps_deps() -> None:
    seen: list[EndpointDeps] = []

    @needs_deps
    async def probe(request: Request, *, deps: EndpointDeps) -> Response:
        seen.append(deps)
        return json_response({"cookie": deps.settings.portal.cookie_name})

    given = deps(portal={"cookie_name": "probe_cookie"})
    [spec] = bind_routes([RouteSpec("probe", "GET", "/v1/probe", "t", "probe", probe)], given)
    response = await spec.handler(request("/v1/probe"))
    assert response.body == b'{"cookie":"probe_cookie"}\n' and seen == [given]


def test_a_plain_handler_is_kept_as_it_is() -> None:
    from apitest.endpoints.deps import bind_handler

    [spec] = [r for r in ALL if r.name == "whoami"]
    assert bind_handler(spec.handler, deps()) is spec.handler
