"""Turn an unhandled exception (a bug, or ``/v1/crash``) into the internal-error envelope.

The traceback is logged with the request id; the client sees only ``{"error": "internal error",
"request_id": ...}``, plus the exception type and traceback when ``server.debug_errors`` is on.
"""

from __future__ import annotations

import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitest import logs
from apitest.http import json_bytes
from apitest.outcome import outcome_of

log = logs.get("errors")


class ErrorMiddleware:
    def __init__(self, app: ASGIApp, *, debug: bool = False) -> None:
        self.app = app
        self.debug = debug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                log.error(
                    "unhandled exception after the response started",
                    exc_info=exc,
                    extra={"request_id": outcome_of(scope).request_id, "path": scope["path"]},
                )
                raise
            await send_internal_error(scope, send, exc, debug=self.debug)


async def send_internal_error(scope: Scope, send: Send, exc: BaseException, *, debug: bool) -> None:
    """Log ``exc`` with the request id and answer 500 with the internal-error envelope."""
    state = scope.setdefault("state", {})
    request_id = outcome_of(scope).request_id
    log.error("unhandled exception", exc_info=exc, extra={"request_id": request_id, "path": scope["path"]})
    body: dict[str, object] = {"error": "internal error", "request_id": request_id}
    if debug:
        body["exception"] = type(exc).__name__
        body["traceback"] = traceback.format_exception(exc)
    payload = json_bytes(body)
    state["error"] = f"{type(exc).__name__}: {exc}"
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
