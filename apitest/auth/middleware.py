"""Inbound auth stage of the ``/v1`` pipeline.

Until the full chain lands this stage knows only anonymous mode: a request passes as anonymous when
``auth.allow_anonymous`` is on, otherwise it is refused with 401 ``missing credential``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from apitest.auth.identity import ANONYMOUS
from apitest.config import Settings
from apitest.endpoints.helpers import error_response
from apitest.pipeline import note_failure


class AuthMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.allow_anonymous = settings.auth.allow_anonymous

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allow_anonymous:
            scope.setdefault("state", {})["identity"] = ANONYMOUS
            await self.app(scope, receive, send)
            return
        note_failure(scope, "missing_credential", "no credential presented")
        response = error_response("missing credential", 401, {"WWW-Authenticate": 'Bearer realm="api-test"'})
        await response(scope, receive, send)
