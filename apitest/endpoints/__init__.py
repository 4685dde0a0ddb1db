"""The fixture endpoint groups and the route table they make.

One module per group, named after it (:data:`apitest.registry.GROUPS` lists them in registration order);
each exposes ``ROUTES: list[RouteSpec]``. This package is the only place that aggregates them:
:func:`enabled_routes` picks the enabled groups' routes and :func:`bind_routes` binds the handlers that
need the app's collaborators (:mod:`apitest.endpoints.deps`).
"""

from __future__ import annotations

import dataclasses
from types import ModuleType

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
from apitest.endpoints.deps import EndpointDeps, Unbound, bind_handler
from apitest.registry import GROUPS, RouteSpec

_MODULES: dict[str, ModuleType] = {
    module.__name__.rsplit(".", 1)[1]: module
    for module in (identity, data, failure, echo, streaming, pagination, methods, security, export, lab, httpbin)
}

ROUTES_BY_GROUP: dict[str, list[RouteSpec]] = {group.name: _MODULES[group.name].ROUTES for group in GROUPS}


def enabled_routes(groups: list[str]) -> list[RouteSpec]:
    """The routes of the ``groups`` given (``settings.enabled_groups()``), in registration order."""
    return [r for g, routes in ROUTES_BY_GROUP.items() if g in groups for r in routes]


def bind_routes(routes: list[RouteSpec], deps: EndpointDeps) -> list[RouteSpec]:
    """``routes`` with every handler that needs the app's collaborators bound to ``deps``
    (:mod:`apitest.endpoints.deps`); called once by ``create_app``."""
    return [
        dataclasses.replace(r, handler=bind_handler(r.handler, deps)) if isinstance(r.handler, Unbound) else r
        for r in routes
    ]
