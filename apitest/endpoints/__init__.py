"""The fixture endpoint groups, in registration order."""

from __future__ import annotations

from apitest.endpoints import (
    data,
    echo,
    export,
    failure,
    httpbin,
    identity,
    lab,
    methods,
    pagination,
    security,
    streaming,
)
from apitest.registry import RouteSpec

ROUTES_BY_GROUP: dict[str, list[RouteSpec]] = {
    "identity": identity.ROUTES,
    "data": data.ROUTES,
    "failure": failure.ROUTES,
    "echo": echo.ROUTES,
    "streaming": streaming.ROUTES,
    "pagination": pagination.ROUTES,
    "methods": methods.ROUTES,
    "security": security.ROUTES,
    "export": export.ROUTES,
    "lab": lab.ROUTES,
    "httpbin": httpbin.ROUTES,
}
