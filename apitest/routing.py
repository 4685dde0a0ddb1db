"""An exact-path index in front of Starlette's linear route scan.

Starlette's router tries every route's regular expression in order; with ~40 ``/v1`` routes first,
``/healthz`` paid ~40 regex matches per request (the largest single cost of the stack when profiled, see
docs/performance.md). :func:`index_static_routes` makes the router look a path up in a dict first: a path is
indexed only to the first route of the table that matches it and only when that route has no path
parameters and no earlier route's pattern matches the same path, so the route chosen is exactly the one
the linear scan would choose. A miss, or a method the indexed route does not take (a partial match), falls
back to the full scan, so 404s, 405s and redirects are unchanged. A request for an indexed path whose route
takes its method goes from the router straight to the route's app, with the scope Starlette would give it
(``Router.__call__``, ``Router.app``, ``Route.matches`` and ``Route.handle`` are four calls and a regular
expression per request otherwise), unless the router has middleware of its own.
"""

from __future__ import annotations

from typing import Any

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send


def static_index(routes: list[BaseRoute]) -> dict[str, Route]:
    index: dict[str, Route] = {}
    patterns: list[Any] = []  # the path patterns of every earlier route (None: a route of unknown shape)
    for route in routes:
        if isinstance(route, WebSocketRoute):
            continue  # never matches an http request
        regex = getattr(route, "path_regex", None)
        if isinstance(route, Route) and not route.param_convertors:
            path = route.path
            if path not in index and not any(p is None or p.match(path) for p in patterns):
                index[path] = route
        patterns.append(regex)
    return index


class IndexedRouter(Router):
    _static: dict[str, Route]
    _bare: bool  # no middleware of the router's own: a request may go straight to an indexed route's app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._bare:
            await self.middleware_stack(scope, receive, send)
        elif scope["type"] != "http" or not await self._indexed(scope, receive, send):
            await super().app(scope, receive, send)  # the stack is app(), whose index lookup just missed

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and await self._indexed(scope, receive, send):
            return
        await super().app(scope, receive, send)

    async def _indexed(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Serve a request for an indexed path whose route takes its method; False for anything else. What
        ``Router.app`` and ``Route.handle`` do for a full match, without the route's regular expression (the path
        is the route's own) and the two calls between: the scope gets the router, the route, the endpoint and
        a copy of the path parameters, then the route's app runs."""
        route = self._static.get(get_route_path(scope))
        if route is None or (route.methods and scope["method"] not in route.methods):
            return False  # a miss, or a method the route does not take (405): the full scan decides
        if "router" not in scope:
            scope["router"] = self
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = dict(scope.get("path_params", {}))
        await route.app(scope, receive, send)
        return True


def index_static_routes(router: Router) -> None:
    """Give ``router`` the exact-path index (call after its routes are final)."""
    router.__class__ = IndexedRouter
    assert isinstance(router, IndexedRouter)
    router._static = static_index(router.routes)
    stack = getattr(router, "middleware_stack", None)
    router._bare = getattr(stack, "__func__", None) is Router.app
    if router._bare:
        router.middleware_stack = router.app  # Starlette bound the old method at construction
