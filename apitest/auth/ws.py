"""Inbound auth for a WebSocket upgrade: the same chain and scope check as every ``/v1`` request.

The credentials are read from the upgrade request (the API-key header or query parameter, or
``Authorization: Bearer``; browsers cannot set headers on a WebSocket, so they use ``?api_key=``). A
refused upgrade is answered, when the server supports the ASGI ``websocket.http.response`` extension
(uvicorn's ``websockets`` implementations do), with the same 401/403 response, challenge and JSON body as an
HTTP request; otherwise the handshake is closed with code 1008 (policy violation), which the server turns
into an HTTP 403 without a body.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from apitest.auth.middleware import AuthMiddleware
from apitest.outcome import outcome_of

DENIAL_EXTENSION = "websocket.http.response"
POLICY_VIOLATION = 1008


class WebSocketAuth(AuthMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        response = await self._authorize(scope)
        if response is None:
            await self.app(scope, receive, send)
        elif DENIAL_EXTENSION in scope.get("extensions", {}):
            await response(scope, receive, send)  # Starlette sends it as websocket.http.response.*
        else:
            reason = outcome_of(scope).error_category or "unauthorized"
            await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": reason})
