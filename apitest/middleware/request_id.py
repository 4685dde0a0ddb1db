"""``X-Request-Id``: keep a well-formed client id, otherwise generate a UUIDv4; set it on every response."""

from __future__ import annotations

import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitest.outcome import outcome_of

HEADER = "x-request-id"
MAX_LENGTH = 128


def acceptable(value: str) -> bool:
    """1 to 128 printable ASCII characters: anything else could forge log lines or break headers."""
    return 0 < len(value) <= MAX_LENGTH and all(0x20 <= ord(c) < 0x7F for c in value)


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                supplied = value.decode("latin-1")
                break
        request_id = supplied if acceptable(supplied) else str(uuid.uuid4())
        outcome_of(scope).request_id = request_id
        scope.setdefault("state", {})
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The raw list: MutableHeaders costs several times more, and this runs on every response.
                headers = [h for h in message.get("headers", ()) if h[0].lower() != b"x-request-id"]
                headers.append(header)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)
