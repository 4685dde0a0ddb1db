"""Streaming group: the same seeded word stream as chunked text, Server-Sent Events and NDJSON.

Each item is sent as its own ASGI body message the moment it is produced, then the handler waits
``delay_ms`` (not after the last item); the stream stops as soon as the client disconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.helpers import StreamResponse, dumps, non_negative_bounded, query
from apitest.endpoints.seeded import stream_word
from apitest.registry import INT, NDJSON, PLAIN, SSE, STR, Param, RouteSpec, bad_request, obj, ok

COUNT_DEFAULT, COUNT_MAX = 5, 1000
DELAY_MAX_MS = 5000

Formatter = Callable[[int, str], bytes]


def chunk_line(index: int, word: str) -> bytes:
    return f"chunk {index}: {word}\n".encode()


def sse_event(index: int, word: str) -> bytes:
    return f"id: {index}\ndata: {dumps({'id': index, 'word': word})}\n\n".encode()


def ndjson_line(index: int, word: str) -> bytes:
    return (dumps({"index": index, "word": word}) + "\n").encode()


async def items(count: int, delay_ms: int, seed: str, fmt: Formatter) -> AsyncGenerator[bytes, None]:
    for i in range(count):
        yield fmt(i, stream_word(seed, i))
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
        "Chunked plain text, one line 'chunk <i>: <word>' per item, each flushed as produced.",
        chunked,
        params=PARAMS,
        responses={
            200: ok({"type": "string", "example": "chunk 0: uniform\nchunk 1: whiskey\n"}, content_type=PLAIN),
            400: BAD,
        },
    ),
    RouteSpec(
        "streaming_sse",
        "GET",
        "/v1/streaming/sse",
        "streaming",
        "Server-Sent Events, one 'id: <i>' / 'data: {\"id\",\"word\"}' event per item, each flushed as produced.",
        sse,
        params=PARAMS,
        responses={
            200: ok(
                {"type": "string", "example": 'id: 0\ndata: {"id":0,"word":"uniform"}\n\n'},
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
        'Newline-delimited JSON, one {"index","word"} object per line, each flushed as produced.',
        ndjson,
        params=PARAMS,
        responses={
            200: ok(obj({"index": INT, "word": STR}), "Success: one such object per line.", content_type=NDJSON),
            400: BAD,
        },
    ),
]
