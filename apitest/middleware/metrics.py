"""Count every request and time it, labelled by route name rather than raw path (bounded cardinality)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitest.metrics import Metrics
from apitest.registry import ROUTE_KEY

UNMATCHED = "unmatched"  # 404s: any path can be sent, so it must not become a label value
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def route_label(scope: Scope) -> str:
    """The ``/v1`` operation name (``whoami``), else the matched route's path template, else ``unmatched``."""
    spec = scope.get(ROUTE_KEY)
    name = getattr(spec, "name", None)
    if name:
        return str(name)
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return UNMATCHED
    return f"{scope.get('root_path', '')}{path}" or "/"


def auth_label(scope: Scope) -> str:
    identity = scope.get("state", {}).get("identity")
    return str(getattr(identity, "auth_type", "") or "none")


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def observing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, observing_send)
        finally:
            self.metrics.in_flight.dec()
            route = route_label(scope)
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            # status "0": no response was started (the client went away first)
            self.metrics.requests.labels(route, method, str(status), auth_label(scope)).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - start)
