"""Discovery documents, unauthenticated and not audited.

- ``/.well-known/oauth-protected-resource`` (RFC 9728), served whenever the server runs; every 401
  challenge points at it through ``resource_metadata``.
- ``/.well-known/oauth-authorization-server``, only with ``oidc.enabled``: a pointer to the issuer
  (this fixture is not an authorization server; tokens come from the IdP).

Keys are sorted, as the original emits its map-typed documents.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from apitest.config import Settings
from apitest.endpoints.helpers import services_of
from apitest.http import json_response


def scopes_supported(request: Request) -> list[str]:
    """Scopes the routes require or the configured keys and tokens grant."""
    services = services_of(request)
    settings = services.settings
    found = {r.scope for r in services.routes if r.scope}
    found |= {s for k in settings.api_keys.file for s in k.scopes}
    found |= {s for t in settings.bearer.tokens for s in t.scopes}
    return sorted(found)


async def protected_resource(request: Request) -> Response:
    settings = services_of(request).settings
    oidc = settings.oidc
    return json_response(
        {
            "authorization_servers": [oidc.issuer] if oidc.enabled and oidc.issuer else [],
            "bearer_methods_supported": ["header"],
            "resource": settings.server.base_url.rstrip("/") + "/",
            "scopes_supported": scopes_supported(request),
        }
    )


async def authorization_server(request: Request) -> Response:
    issuer = services_of(request).settings.oidc.issuer
    return json_response(
        {
            "issuer": issuer,
            "note": f"api-test does not issue tokens; it accepts OIDC access tokens issued by {issuer}.",
            "openid_configuration_url": issuer.rstrip("/") + "/.well-known/openid-configuration",
        }
    )


def wellknown_routes(settings: Settings) -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route("/.well-known/oauth-protected-resource", protected_resource, methods=["GET"], name="protected_resource")
    ]
    if settings.oidc.enabled:
        routes.append(
            Route(
                "/.well-known/oauth-authorization-server",
                authorization_server,
                methods=["GET"],
                name="authorization_server",
            )
        )
    return routes
