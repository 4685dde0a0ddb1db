"""An exact-path index in front of Starlette's linear route scan.

Starlette's router tries every route's regular expression in order; with ~40 ``/v1`` routes first,
``/healthz`` paid ~40 regex matches per request (the largest single cost of the stack when profiled, see
docs/performance.md). :func:`index_static_routes` makes the router look a path up in a dict first: a path is
indexed only to the first route of the table that matches it and only when that route has no path
parameters and no earlier route's pattern matches the same path, so the route chosen is exactly the one
the linear scan would choose. A miss, or a method the indexed route does not take (a partial match), falls
back to the full scan, so 404s, 405s and redirects are unchanged.
"""

from __future__ import annotations

from typing import Any

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Route, Router, WebSocketRoute
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

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self._static.get(get_route_path(scope))
            if route is not None:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    if "router" not in scope:
                        scope["router"] = self
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)


def index_static_routes(router: Router) -> None:
    """Give ``router`` the exact-path index (call after its routes are final)."""
    router.__class__ = IndexedRouter
    assert isinstance(router, IndexedRouter)
    router._static = static_index(router.routes)
    stack = getattr(router, "middleware_stack", None)
    if getattr(stack, "__func__", None) is Router.app:
        router.middleware_stack = router.app  # Starlette bound the old method at construction
