"""The exact-path index picks the route the linear scan would pick."""

from __future__ import annotations

import httpx
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from apitest.routing import index_static_routes, static_index


async def ok(request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


def test_only_paths_no_earlier_pattern_matches_are_indexed() -> None:
    routes = [
        Route("/v1/{rest:path}", ok),  # shadows every /v1 path after it
        Route("/v1/whoami", ok),
        Route("/healthz", ok),
        Route("/healthz", ok, methods=["POST"]),  # a second route for an indexed path: the first stays
        Route("/items/{id}", ok),
    ]
    index = static_index(list(routes))
    assert set(index) == {"/healthz"}
    assert index["/healthz"] is routes[2]


async def seen_by(
    routes: list[Route], indexed: bool, method: str = "GET", path: str = "/healthz"
) -> tuple[int, dict[str, object]]:
    """Status and the scope keys routing set, for one request through a plain or an indexed router."""
    seen: dict[str, object] = {}

    class Spy:  # an ASGI app (not a function): the route calls it with the scope as routing left it
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.update({k: scope[k] for k in ("endpoint", "path_params") if k in scope})
            seen["endpoint"] = seen.get("endpoint") is spy
            seen["route"] = getattr(scope.get("route"), "path", None)
            seen["router"] = scope.get("router") is router
            await PlainTextResponse("ok")(scope, receive, send)

    spy = Spy()
    router = Router([Route(r.path, spy, methods=r.methods) if r.path == "/healthz" else r for r in routes])
    if indexed:
        index_static_routes(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=router), base_url="http://t") as client:
        response = await client.request(method, path)
    return response.status_code, seen


ROUTES = [Route("/items/{id}", ok), Route("/healthz", ok, methods=["GET"]), Route("/other", ok)]


async def test_an_indexed_route_is_served_as_the_linear_scan_serves_it() -> None:
    plain, fast = await seen_by(ROUTES, False), await seen_by(ROUTES, True)
    assert plain == fast and fast[0] == 200
    assert fast[1] == {"endpoint": True, "path_params": {}, "route": "/healthz", "router": True}
    for method, path in (("POST", "/healthz"), ("GET", "/nowhere"), ("GET", "/items/7"), ("HEAD", "/healthz")):
        assert await seen_by(ROUTES, False, method, path) == await seen_by(ROUTES, True, method, path), (method, path)
    assert (await seen_by(ROUTES, True, "POST", "/healthz"))[0] == 405  # not the route's method: the scan says so


async def test_a_router_with_its_own_middleware_is_not_bypassed() -> None:
    calls: list[str] = []

    class Count:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            calls.append(scope["path"])
            await self.app(scope, receive, send)

    router = Router([Route("/healthz", ok)], middleware=[Middleware(Count)])
    index_static_routes(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=router), base_url="http://t") as client:
        assert (await client.get("/healthz")).status_code == 200
    assert calls == ["/healthz"]
