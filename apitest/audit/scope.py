"""``audit.scope: all``: record the requests outside ``/v1`` too.

Every ``/v1`` request is audited by the ``/v1`` routes themselves (routed or not, see :mod:`apitest.unrouted`).
With ``audit.scope: all`` this middleware, the innermost of the app, also records every other path (the root
redirect, ``/version``, ``/openapi.json``, ``/docs``, ``/.well-known/...``, unknown paths), except the
fixture's own surfaces, whose rows would only be noise: the portal and its JSON API, the admin API, health
checks, ``/metrics`` and static assets (:data:`UNAUDITED`). Their rows have no ``route_name``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from apitest.audit.buffer import AuditWriter
from apitest.audit.capture import AuditMiddleware
from apitest.auth.evidence import Fingerprinter
from apitest.config import Settings

SCOPES = ("v1", "all")
UNAUDITED = (
    "/v1",  # audited by its own routes
    "/portal",
    "/api/v1/portal",
    "/api/v1/admin",
    "/healthz",
    "/readyz",
    "/metrics",
    "/static",
    "/docs/assets",
)


def unaudited(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in UNAUDITED)


class AllPathsAudit:
    def __init__(
        self, app: ASGIApp, *, settings: Settings, writer: AuditWriter, fingerprints: Fingerprinter | None = None
    ) -> None:
        self.app = app
        self.audited = AuditMiddleware(app, settings=settings, writer=writer, fingerprints=fingerprints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or unaudited(scope["path"]):
            await self.app(scope, receive, send)
            return
        await self.audited(scope, receive, send)
