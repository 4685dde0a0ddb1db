"""One JSON log line per request: method, path, status, bytes, duration, request id, caller."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitest import logs

log = logs.get("access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0
        sent = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            state = scope.get("state", {})
            extra: dict[str, object] = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "bytes": sent,
                "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                "request_id": state.get("request_id", ""),
            }
            identity = state.get("identity")
            if identity is not None:
                extra["auth_type"] = identity.auth_type
                extra["subject"] = identity.subject
            log.info("request", extra=extra)
