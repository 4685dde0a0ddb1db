"""The HTTP kit every layer uses: JSON and error responses, parameter errors and parsing, streamed bodies.

The bottom floor of the package (it imports only Starlette and the standard library): endpoints,
middleware, auth, audit, portal and webhooks all answer through it. Handlers raise :class:`ParamError`
for bad input; the ``/v1`` pipeline turns it into the error envelope ``{"error": "..."}`` with status
400 (or the status the error carries).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
_INT = re.compile(r"[+-]?[0-9]+")

JSON_TYPE = "application/json"


class ParamError(Exception):
    """A request parameter is invalid; the message is sent to the client as is."""

    def __init__(self, message: str, status: int = 400, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = dict(headers or {})


# One encoder for every response: json.dumps with options builds a new JSONEncoder on each call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(data: Any) -> str:
    """Compact JSON, non-ASCII kept as UTF-8, NaN refused."""
    return _ENCODER.encode(data)


def json_bytes(data: Any, newline: bool = True) -> bytes:
    return (dumps(data) + ("\n" if newline else "")).encode()


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None, newline: bool = True
) -> Response:
    return Response(json_bytes(data, newline), status_code=status, headers=dict(headers or {}), media_type=JSON_TYPE)


def error_response(message: str, status: int = 400, headers: Mapping[str, str] | None = None) -> Response:
    return json_response({"error": message}, status, headers)


def parse_int(text: str) -> int | None:
    """Strict base-10 int64: optional sign and ASCII digits only; ``None`` when invalid or out of range."""
    if not _INT.fullmatch(text):
        return None
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else None


def parse_int_clamped(text: str) -> int | None:
    """Like :func:`parse_int` but out-of-range values clamp to the int64 extreme (Go's Atoi on overflow)."""
    if not _INT.fullmatch(text):
        return None
    return max(INT64_MIN, min(INT64_MAX, int(text)))


def positive_bounded_in(params: QueryParams, name: str, default: int, maximum: int) -> int:
    """:func:`positive_bounded` over query parameters parsed elsewhere."""
    raw = params.get(name, "")
    if raw == "":
        return default
    value = parse_int(raw)
    if value is None or value < 1:
        raise ParamError(f"{name} must be a positive integer")
    if value > maximum:
        raise ParamError(f"{name} {value} exceeds max {maximum}")
    return value


def non_negative_bounded_in(params: QueryParams, name: str, default: int, maximum: int | None) -> int:
    """:func:`non_negative_bounded` over query parameters parsed elsewhere (a WebSocket's, for instance)."""
    raw = params.get(name, "")
    if raw == "":
        return default
    value = parse_int(raw)
    if value is None or value < 0:
        raise ParamError(f"{name} must be a non-negative integer")
    if maximum is not None and value > maximum:
        raise ParamError(f"{name} {value} exceeds max {maximum}")
    return value


def canonical_header_name(name: str) -> str:
    """Go's canonical MIME header form: ``x-api-key`` → ``X-Api-Key``."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


async def wait_for_disconnect(receive: Receive) -> None:
    """Return once the client has gone (``http.disconnect``); any request body still arriving is discarded."""
    while (await receive())["type"] != "http.disconnect":
        pass


class StreamResponse(Response):
    """A body sent as one ASGI message per produced chunk (``more_body=True``), so each item leaves the
    server as soon as it is produced instead of being buffered.

    The producer runs against a disconnect watcher and is cancelled as soon as the client goes away (a
    pending ``delay_ms`` sleep included). A HEAD request gets the status and headers only: the producer
    never runs, so no item is computed and no delay is waited. ``content_type`` is sent as given (Starlette
    would append a charset to every ``text/*`` type, and ``text/event-stream`` has none).
    """

    def __init__(
        self,
        chunks: AsyncGenerator[bytes, None],
        *,
        content_type: str,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        content_length: int | None = None,
    ) -> None:
        self.chunks = chunks
        self.status_code = status_code
        self.background = None
        raw = [(b"content-type", content_type.encode("latin-1"))]
        if content_length is not None:
            raw.append((b"content-length", str(content_length).encode("latin-1")))
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
        self.raw_headers = raw

    async def _produce(self, send: Send) -> None:
        try:
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                # Let the disconnect watcher and the transport run between chunks even when writes never block.
                await asyncio.sleep(0)
        finally:
            await self.chunks.aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope.get("method") == "HEAD":
            await self.chunks.aclose()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        producer = asyncio.ensure_future(self._produce(send))
        watcher = asyncio.ensure_future(wait_for_disconnect(receive))
        try:
            await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watcher, producer):
                if not task.done():
                    task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            with contextlib.suppress(asyncio.CancelledError):
                await producer  # re-raises a producer bug; a cancelled producer means the client left
