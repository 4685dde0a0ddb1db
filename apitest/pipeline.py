"""The per-request path of a ``/v1`` operation.

The router maps each ``/v1`` path to a :class:`RouteDispatch`, which picks the operation by method and
runs the shared pipeline: audit capture → inbound auth → rate limit → :class:`HandlerApp`. Each stage
is a pure ASGI app; stages talk through the typed :class:`~apitest.outcome.RequestOutcome` (``identity``,
``error_category``, ``error_message``...) and ``scope[ROUTE_KEY]`` (the :class:`RouteSpec`).
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from apitest.failures import note_failure
from apitest.http import ParamError, error_response
from apitest.http_guard import BODY_TIMEOUT_KEY
from apitest.middleware.errors import send_internal_error
from apitest.outcome import ErrorCategory
from apitest.registry import ROUTE_KEY, RouteSpec, route_of
from apitest.unrouted import NotAllowed


class RouteDispatch:
    """Starlette endpoint for one ``/v1`` path; HEAD falls back to the path's GET operation; a method the path
    has no operation for goes to ``refuse`` (the audited 405)."""

    def __init__(self, specs: dict[str, RouteSpec], pipeline: ASGIApp, refuse: ASGIApp | None = None) -> None:
        self.specs = specs
        self.pipeline = pipeline
        self.refuse = refuse or NotAllowed(specs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        spec = self.specs.get(method) or (self.specs.get("GET") if method == "HEAD" else None)
        if spec is None:
            await self.refuse(scope, receive, send)
            return
        scope[ROUTE_KEY] = spec
        await self.pipeline(scope, receive, send)


class HandlerApp:
    """Innermost stage: call the operation's handler; bad parameters become the 400 error envelope."""

    def __init__(self, *, debug_errors: bool = False) -> None:
        self.debug_errors = debug_errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        spec = route_of(scope)
        request = Request(scope, receive, send)
        try:
            response = await spec.handler(request)
        except ParamError as exc:
            category: ErrorCategory = "bad_request" if exc.status < 500 else "server_error"
            category = "payload_too_large" if exc.status == 413 else category
            note_failure(scope, category, exc.message)
            response = error_response(exc.message, exc.status, exc.headers)
        except ClientDisconnect:
            # The client left while the handler read its body: there is no one to answer (the audit row says 499).
            reason = scope.get("state", {}).get(BODY_TIMEOUT_KEY)  # set when http_guard timed the body out
            note_failure(scope, "client_disconnected", reason or "client disconnected while sending the request body")
            return
        except Exception as exc:
            note_failure(scope, "internal_error", f"{type(exc).__name__}: {exc}")
            await send_internal_error(scope, send, exc, debug=self.debug_errors)
            return
        await response(scope, receive, send)
