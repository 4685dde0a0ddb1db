"""HTTP/1.0 responses without chunked framing.

uvicorn's httptools protocol frames every response that has neither ``Content-Length`` nor
``Transfer-Encoding`` as chunked, whatever the request's version; an HTTP/1.0 client does not know chunked
encoding (RFC 9112 §6.1: a server must not send it to an HTTP/1.0 recipient), and nginx talks HTTP/1.0 to
upstreams by default. For an HTTP/1.0 request such a response is sent close-delimited instead: the body
bytes as they are, then the connection closes (uvicorn already closes HTTP/1.0 connections after one
response). Streams keep flushing item by item.

This patches the one response cycle's ``send`` (uvicorn has no option for it); a test on the wire fails if a
uvicorn upgrade changes the attributes it relies on (``chunked_encoding``, ``expected_content_length``).
"""

from __future__ import annotations

import sys
from typing import Any

from starlette.types import Message

NO_BODY_STATUSES = frozenset({204, 304})


def _framed(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in headers)


def close_delimited(cycle: Any) -> None:
    """Make an HTTP/1.0 request's response cycle send an unframed response close-delimited."""
    send = cycle.send
    state = {"delimited": False}

    async def send_http10(message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start" and cycle.chunked_encoding is None:
            unframed = not _framed(list(message.get("headers", [])))
            if unframed and cycle.scope["method"] != "HEAD" and message["status"] not in NO_BODY_STATUSES:
                cycle.chunked_encoding = False  # uvicorn: neither chunked nor a length to count down
                cycle.expected_content_length = sys.maxsize
                state["delimited"] = True
        elif kind == "http.response.body" and state["delimited"] and not message.get("more_body", False):
            cycle.expected_content_length = len(message.get("body", b""))  # the last write completes it
        await send(message)

    cycle.send = send_http10
