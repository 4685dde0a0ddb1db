"""The fixture endpoint groups, in registration order."""

from __future__ import annotations

from apitest.endpoints import identity
from apitest.registry import RouteSpec

ROUTES_BY_GROUP: dict[str, list[RouteSpec]] = {
    "identity": identity.ROUTES,
}
