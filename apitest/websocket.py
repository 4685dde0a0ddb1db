"""The ``/v1`` WebSocket routes: one Starlette ``WebSocketRoute`` per enabled session operation.

Each upgrade passes audit (:class:`~apitest.audit.ws_capture.WebSocketAuditMiddleware`, outermost: one row
per session) → auth (:class:`~apitest.auth.ws.WebSocketAuth`, the ``/v1`` chain) → the session
(:data:`apitest.endpoints.websockets.SESSIONS`). The HTTP operation of the same path (426 without an
upgrade, documented in OpenAPI) is an ordinary ``/v1`` route. Rate limits do not apply to sessions.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from apitest.audit.buffer import AuditWriter
from apitest.audit.ws_capture import WebSocketAuditMiddleware
from apitest.auth.chain import AuthChain
from apitest.auth.ws import WebSocketAuth
from apitest.config import Settings
from apitest.endpoints.websockets import SESSIONS, Session
from apitest.middleware.request_id import acceptable
from apitest.outcome import outcome_of
from apitest.registry import ROUTE_KEY, RouteSpec


class SessionApp:
    """Innermost stage: run the session on a Starlette :class:`WebSocket`."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.session(WebSocket(scope, receive, send))


class WebSocketOperation:
    """Marks the scope with its route (and the client's ``X-Request-Id`` when acceptable), then the stages."""

    def __init__(self, spec: RouteSpec, stages: ASGIApp) -> None:
        self.spec = spec
        self.stages = stages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[ROUTE_KEY] = self.spec
        scope.setdefault("state", {})
        for name, value in scope.get("headers", []):
            if name == b"x-request-id" and acceptable(value.decode("latin-1")):
                outcome_of(scope).request_id = value.decode("latin-1")
        await self.stages(scope, receive, send)


def websocket_routes(
    specs: list[RouteSpec], *, settings: Settings, chain: AuthChain, writer: AuditWriter | None
) -> list[BaseRoute]:
    """One route per session operation of ``specs``; sessions are audited when ``writer`` is given (audit on)."""
    routes: list[BaseRoute] = []
    for spec in specs:
        session = SESSIONS.get(spec.name)
        if session is None:
            continue
        stages: ASGIApp = SessionApp(session)
        stages = WebSocketAuth(stages, settings=settings, chain=chain)
        if writer is not None:
            stages = WebSocketAuditMiddleware(stages, settings=settings, writer=writer)
        routes.append(WebSocketRoute(spec.path, WebSocketOperation(spec, stages), name=spec.name))
    return routes
