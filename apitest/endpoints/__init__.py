"""The fixture endpoint groups and the route table they make.

One module per group, named after it (:data:`apitest.registry.GROUPS` lists them in registration order);
each exposes ``ROUTES: list[RouteSpec]``. This package is the only place that aggregates them.
"""

from __future__ import annotations

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
from apitest.registry import GROUPS, RouteSpec

_MODULES: dict[str, ModuleType] = {
    module.__name__.rsplit(".", 1)[1]: module
    for module in (identity, data, failure, echo, streaming, pagination, methods, security, export, lab, httpbin)
}

ROUTES_BY_GROUP: dict[str, list[RouteSpec]] = {group.name: _MODULES[group.name].ROUTES for group in GROUPS}


def enabled_routes(groups: list[str]) -> list[RouteSpec]:
    """The routes of the ``groups`` given (``settings.enabled_groups()``), in registration order."""
    return [r for g, routes in ROUTES_BY_GROUP.items() if g in groups for r in routes]
