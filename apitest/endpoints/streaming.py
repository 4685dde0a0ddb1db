"""Streaming group: the same seeded word stream as chunked text, Server-Sent Events and NDJSON.

Each item is sent as its own ASGI body message the moment it is produced, then the handler waits
``delay_ms`` (not after the last item); the stream stops as soon as the client disconnects.

Every item also carries its sequence number and the server's send time (``sent_at``, RFC 3339 UTC with
microseconds), after the item's own fields, so a client can tell a gateway that buffered the stream
(items arrive together, their ``sent_at`` spaced) from one that did not: ``seq`` and ``sent_at`` in an
NDJSON object and an SSE event's data (whose ``id:`` is the sequence), `` seq=<i> sent_at=<time>`` at the
end of a chunked line.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.helpers import non_negative_bounded, query
from apitest.endpoints.seeded import stream_word
from apitest.endpoints.websockets import upgrade_required
from apitest.http import StreamResponse, dumps
from apitest.registry import (
    ERROR_SCHEMA,
    INT,
    JSON,
    NDJSON,
    PLAIN,
    SSE,
    STR,
    Param,
    Reply,
    RouteSpec,
    bad_request,
    obj,
    ok,
)

COUNT_DEFAULT, COUNT_MAX = 5, 1000
DELAY_MAX_MS = 5000

Formatter = Callable[[int, str, str], bytes]


def sent_at() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chunk_line(index: int, word: str, at: str) -> bytes:
    return f"chunk {index}: {word} seq={index} sent_at={at}\n".encode()


def sse_event(index: int, word: str, at: str) -> bytes:
    return f"id: {index}\ndata: {dumps({'id': index, 'word': word, 'seq': index, 'sent_at': at})}\n\n".encode()


def ndjson_line(index: int, word: str, at: str) -> bytes:
    return (dumps({"index": index, "word": word, "seq": index, "sent_at": at}) + "\n").encode()


async def items(count: int, delay_ms: int, seed: str, fmt: Formatter) -> AsyncGenerator[bytes, None]:
    for i in range(count):
        yield fmt(i, stream_word(seed, i), sent_at())
        if delay_ms and i < count - 1:
            await asyncio.sleep(delay_ms / 1000)


def stream(request: Request, fmt: Formatter, content_type: str, headers: dict[str, str] | None = None) -> Response:
    """Validate (count first, then delay_ms) before any byte is sent, then stream."""
    count = non_negative_bounded(request, "count", COUNT_DEFAULT, COUNT_MAX)
    delay_ms = non_negative_bounded(request, "delay_ms", 0, DELAY_MAX_MS)
    chunks = items(count, delay_ms, query(request, "seed"), fmt)
    return StreamResponse(chunks, content_type=content_type, headers=headers)


async def chunked(request: Request) -> Response:
    return stream(request, chunk_line, PLAIN)


async def sse(request: Request) -> Response:
    return stream(request, sse_event, SSE, {"Cache-Control": "no-store"})


async def ndjson(request: Request) -> Response:
    return stream(request, ndjson_line, NDJSON)


PARAMS = (
    Param(
        "count",
        "integer",
        default=COUNT_DEFAULT,
        minimum=0,
        maximum=COUNT_MAX,
        description="Number of items (0 gives an empty body).",
    ),
    Param(
        "delay_ms",
        "integer",
        default=0,
        minimum=0,
        maximum=DELAY_MAX_MS,
        description="Pause between items, in ms (none before the first or after the last).",
    ),
    Param("seed", default="", description="Seed of the words; item i's word depends only on seed and i."),
)
BAD = bad_request("count or delay_ms not a non-negative integer, or above its max.")

ROUTES = [
    RouteSpec(
        "streaming_chunked",
        "GET",
        "/v1/streaming/chunked",
        "streaming",
        "Chunked plain text, one line 'chunk <i>: <word> seq=<i> sent_at=<time>' per item, each flushed as produced.",
        chunked,
        params=PARAMS,
        responses={
            200: ok(
                {
                    "type": "string",
                    "example": "chunk 0: uniform seq=0 sent_at=2026-12-02T14:00:00.000000Z\n"
                    "chunk 1: whiskey seq=1 sent_at=2026-12-02T14:00:00.000210Z\n",
                },
                content_type=PLAIN,
            ),
            400: BAD,
        },
    ),
    RouteSpec(
        "streaming_sse",
        "GET",
        "/v1/streaming/sse",
        "streaming",
        'Server-Sent Events, one \'id: <i>\' / \'data: {"id","word","seq","sent_at"}\' event per item, '
        "each flushed as produced.",
        sse,
        params=PARAMS,
        responses={
            200: ok(
                {
                    "type": "string",
                    "example": 'id: 0\ndata: {"id":0,"word":"uniform","seq":0,'
                    '"sent_at":"2026-12-02T14:00:00.000000Z"}\n\n',
                },
                content_type=SSE,
                headers=("Cache-Control",),
            ),
            400: BAD,
        },
    ),
    RouteSpec(
        "streaming_ndjson",
        "GET",
        "/v1/streaming/ndjson",
        "streaming",
        'Newline-delimited JSON, one {"index","word","seq","sent_at"} object per line, each flushed as produced.',
        ndjson,
        params=PARAMS,
        responses={
            200: ok(
                obj({"index": INT, "word": STR, "seq": INT, "sent_at": {"type": "string", "format": "date-time"}}),
                "Success: one such object per line.",
                content_type=NDJSON,
            ),
            400: BAD,
        },
    ),
]

CLOSE_CODE = Param(
    "close_code",
    "integer",
    default=1000,
    minimum=1000,
    maximum=4999,
    description="Close code the server ends the session with (1000-1003, 1007-1014, 3000-4999).",
)
UPGRADE_REQUIRED = Reply("No Upgrade: websocket on the request.", JSON, ERROR_SCHEMA, ("Upgrade",))
SESSION_NOTE = (
    " Open it with a WebSocket upgrade (GET with Upgrade: websocket); credentials go on the upgrade request "
    "(header, or ?api_key= from a browser). A refused credential answers the handshake with 401/403; a bad "
    "parameter closes it with 1008. One audit row per session (messages and bytes each way, close code, who "
    "closed, duration in details.websocket)."
)
ROUTES += [
    RouteSpec(
        "ws_echo",
        "GET",
        "/v1/ws/echo",
        "streaming",
        "WebSocket echo: each text or binary message comes back unchanged." + SESSION_NOTE,
        upgrade_required,
        params=(
            Param("delay_ms", "integer", default=0, minimum=0, maximum=60000, description="Echo each message late."),
            Param(
                "close_after",
                "integer",
                default=0,
                minimum=0,
                maximum=100000,
                description="Close after echoing this many messages (0: never).",
            ),
            CLOSE_CODE,
            Param(
                "idle_ms",
                "integer",
                default=0,
                minimum=0,
                maximum=600000,
                description='Send a {"type":"ping","seq":n} text message after this much client silence (0: never).',
            ),
        ),
        responses={
            101: Reply("Switching Protocols: the WebSocket session.", None, None, ("Upgrade", "Sec-WebSocket-Accept")),
            426: UPGRADE_REQUIRED,
        },
    ),
    RouteSpec(
        "ws_stream",
        "GET",
        "/v1/ws/stream",
        "streaming",
        'WebSocket stream: the server pushes count {"seq","sent_at","word"} text messages, then closes.' + SESSION_NOTE,
        upgrade_required,
        params=(
            Param("count", "integer", default=5, minimum=0, maximum=10000, description="Messages to push."),
            Param(
                "interval_ms", "integer", default=1000, minimum=0, maximum=60000, description="Pause between messages."
            ),
            Param("seed", default="", description="Seed of the words (the streaming group's words)."),
            CLOSE_CODE,
        ),
        responses={
            101: Reply("Switching Protocols: the WebSocket session.", None, None, ("Upgrade", "Sec-WebSocket-Accept")),
            426: UPGRADE_REQUIRED,
        },
    ),
]
