"""Refuse request bodies over ``server.max_body_bytes`` with 413 before they are read whole.

The limit is enforced on the ``receive`` channel, so it holds for every route without buffering:

- a ``Content-Length`` over the limit fails the first ``receive()``: not one body byte is handed to the
  app, and uvicorn never sends ``100 Continue``, so a client using ``Expect: 100-continue`` never sends
  the body;
- a chunked (or under-declared) body fails the ``receive()`` whose bytes take the count past the limit.

The failure is raised as :class:`PayloadTooLarge` (a ``ParamError`` with status 413), so on ``/v1`` the
pipeline's handler stage answers it inside the audit stage, and the audit row carries
``error_category=payload_too_large``. Routes outside the pipeline are answered here. The 413 carries
``Connection: close`` because the rest of the body is never read; the production protocol then shuts its
side and drains the rest for a moment before closing (``apitest.http_guard``), so a client or gateway still
sending the body reads the 413 rather than a connection reset. A handler that never reads its body
(``GET /v1/whoami`` with a body) is not refused: the server discards the unread bytes.

References: RFC 9110 §15.5.14 (413 Content Too Large).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitest.failures import note_failure
from apitest.http import ParamError, json_bytes


class PayloadTooLarge(ParamError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes", 413, {"Connection": "close"})


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared = declared_length(scope)
        received = 0
        started = False

        def refuse() -> PayloadTooLarge:
            error = PayloadTooLarge(limit)
            note_failure(scope, "payload_too_large", f"{error.message} (received {received}, declared {declared})")
            return error

        async def limited_receive() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise refuse()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise refuse()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except PayloadTooLarge as exc:
            if started:
                raise
            await send_payload_too_large(send, exc)


async def send_payload_too_large(send: Send, exc: PayloadTooLarge) -> None:
    payload = json_bytes({"error": exc.message})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
