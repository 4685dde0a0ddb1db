"""Bodies over time and random bytes: ``/drip``, ``/bytes/{n}`` and ``/stream-bytes/{n}``.

``/drip`` trickles ``numbytes`` asterisks over ``duration`` after ``delay``, each write flushed at once,
with a Content-Length (no chunked encoding, as go-httpbin). Writes are at most one per millisecond: a
drip of more bytes than milliseconds sends several bytes per write. ``/bytes`` and ``/stream-bytes``
give the same seeded bytes for the same ``seed`` (FNV-1a + PCG-DXSM); ``/stream-bytes`` flushes per chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.helpers import positive_bounded, query, sleep_unless_disconnected
from apitest.endpoints.httpbin_support import MAX_BODY, MAX_DURATION, duration_param
from apitest.endpoints.seeded import pcg_bytes, seeded_rng
from apitest.endpoints.statuses import GO_STATUS_TEXT
from apitest.failures import note_failure
from apitest.http import ParamError, StreamResponse, parse_int

TEXT = "text/plain; charset=utf-8"
BINARY = "application/octet-stream"
DRIP_DURATION, DRIP_DELAY, DRIP_BYTES = 2.0, 2.0, 10
STREAM_CHUNK = 10 * 1024
CLIENT_CLOSED = 499
NO_BODY = (204, 304)  # statuses that cannot carry the drip


def status_param(request: Request, name: str) -> int:
    raw = query(request, name)
    if raw == "":
        return 200
    code = parse_int(raw)
    if code is None or not 200 <= code <= 599 or code not in GO_STATUS_TEXT:
        raise ParamError(f"invalid {name}: must be a registered HTTP status in [200, 599]")
    return code


def drip_writes(numbytes: int, duration: float) -> list[int]:
    """Bytes per write: one byte each, unless that would mean more than one write per millisecond."""
    writes = 1 if duration == 0 else max(1, min(numbytes, int(duration * 1000)))
    base, extra = divmod(numbytes, writes)
    return [base + (1 if i < extra else 0) for i in range(writes)]


async def _drip_chunks(sizes: list[int], pause: float) -> AsyncGenerator[bytes, None]:
    for i, n in enumerate(sizes):
        yield b"*" * n
        if i < len(sizes) - 1:
            await asyncio.sleep(pause)


async def drip(request: Request) -> Response:
    duration = duration_param(request, "duration", DRIP_DURATION)
    delay = duration_param(request, "delay", DRIP_DELAY)
    numbytes = positive_bounded(request, "numbytes", DRIP_BYTES, MAX_BODY)
    code = status_param(request, "code")
    if duration + delay > MAX_DURATION:
        raise ParamError(f"too much time: {duration:g}s+{delay:g}s > {MAX_DURATION:g}s")
    sizes = drip_writes(numbytes, duration)
    pause = duration / (len(sizes) - 1) if len(sizes) > 1 else 0.0
    timings = [("total_duration", delay + duration), ("initial_delay", delay), ("write_duration", duration)]
    server_timing = ", ".join(f"{name};dur={seconds * 1000:g}" for name, seconds in [*timings, ("pause", pause)])
    # The delay comes before the status line, as go-httpbin's; a client that leaves gets 499 (seen by the audit).
    if request.method != "HEAD" and not await sleep_unless_disconnected(request, delay):
        note_failure(request.scope, "client_disconnected", f"client disconnected during the {delay:g}s delay")
        return Response(status_code=CLIENT_CLOSED)
    if code in NO_BODY:
        return Response(status_code=code, headers={"Server-Timing": server_timing})
    return StreamResponse(
        _drip_chunks(sizes, pause),
        content_type=TEXT,
        status_code=code,
        headers={"Server-Timing": server_timing},
        content_length=numbytes,
    )


def byte_count(request: Request) -> int:
    n = parse_int(request.path_params["numbytes"])
    if n is None or n < 0:
        raise ParamError("invalid byte count: must be a non-negative integer")
    if n > MAX_BODY:
        raise ParamError(f"invalid byte count: {n} not in range [0, {MAX_BODY}]")
    return n


async def random_bytes(request: Request) -> Response:
    n = byte_count(request)
    return Response(pcg_bytes(seeded_rng(query(request, "seed")), n), media_type=BINARY)


async def _byte_chunks(data: bytes, chunk_size: int) -> AsyncGenerator[bytes, None]:
    for i in range(0, len(data), chunk_size):
        yield data[i : i + chunk_size]


async def stream_bytes(request: Request) -> Response:
    n = byte_count(request)
    chunk_size = positive_bounded(request, "chunk_size", STREAM_CHUNK, MAX_BODY)
    data = pcg_bytes(seeded_rng(query(request, "seed")), n)
    return StreamResponse(_byte_chunks(data, chunk_size), content_type=BINARY)
