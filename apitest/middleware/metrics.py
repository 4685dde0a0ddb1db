"""The labels of the request metrics (recorded by :class:`~apitest.middleware.observe.Observer`):
route name rather than raw path (bounded cardinality), method, caller."""

from __future__ import annotations

from starlette.types import Scope

from apitest.outcome import peek
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
    outcome = peek(scope)
    identity = outcome.identity if outcome is not None else None
    return (identity.auth_type if identity is not None else "") or "none"
