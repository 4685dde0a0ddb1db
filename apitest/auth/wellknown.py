"""Discovery documents, unauthenticated and not audited.

- ``/.well-known/oauth-protected-resource`` (RFC 9728), served whenever the server runs; every 401
  challenge points at it through ``resource_metadata``.
- ``/.well-known/oauth-authorization-server``, only with ``oidc.enabled``: a pointer to the issuer
  (this fixture is not an authorization server; tokens come from the IdP).

Keys are sorted, as map-typed JSON documents are throughout the fixture.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from apitest.config import Settings
from apitest.http import json_response
from apitest.registry import RouteSpec


class WellKnown:
    """The discovery documents of one configuration; ``routes`` are the enabled ``/v1`` routes."""

    def __init__(self, settings: Settings, routes: list[RouteSpec]) -> None:
        self.settings = settings
        self.specs = routes

    def scopes_supported(self) -> list[str]:
        """Scopes the routes require or the configured keys and tokens grant."""
        settings = self.settings
        found = {r.scope for r in self.specs if r.scope}
        found |= {s for k in settings.api_keys.file for s in k.scopes}
        found |= {s for t in settings.bearer.tokens for s in t.scopes}
        return sorted(found)

    def protected_resource_document(self) -> dict[str, Any]:
        settings = self.settings
        oidc = settings.oidc
        return {
            "authorization_servers": [oidc.issuer] if oidc.enabled and oidc.issuer else [],
            "bearer_methods_supported": ["header"],
            "resource": settings.server.base_url.rstrip("/") + "/",
            "scopes_supported": self.scopes_supported(),
        }

    def authorization_server_document(self) -> dict[str, Any]:
        issuer = self.settings.oidc.issuer
        return {
            "issuer": issuer,
            "note": f"api-test does not issue tokens; it accepts OIDC access tokens issued by {issuer}.",
            "openid_configuration_url": issuer.rstrip("/") + "/.well-known/openid-configuration",
        }

    def documents(self) -> dict[str, dict[str, Any]]:
        """Every document this configuration serves, by path."""
        out = {"/.well-known/oauth-protected-resource": self.protected_resource_document()}
        if self.settings.oidc.enabled:
            out["/.well-known/oauth-authorization-server"] = self.authorization_server_document()
        return out

    async def protected_resource(self, request: Request) -> Response:
        return json_response(self.protected_resource_document())

    async def authorization_server(self, request: Request) -> Response:
        return json_response(self.authorization_server_document())

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route(
                "/.well-known/oauth-protected-resource",
                self.protected_resource,
                methods=["GET"],
                name="protected_resource",
            )
        ]
        if self.settings.oidc.enabled:
            routes.append(
                Route(
                    "/.well-known/oauth-authorization-server",
                    self.authorization_server,
                    methods=["GET"],
                    name="authorization_server",
                )
            )
        return routes
