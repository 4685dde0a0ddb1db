"""``/range/{numbytes}``: a seekable synthetic body (``abc...z`` repeated) served with HTTP range requests.

Single ranges answer 206 with ``Content-Range``; several answer 206 ``multipart/byteranges``; suffix
(``-N``) and open-ended (``N-``) ranges are supported; a Range none of whose ranges overlap the body, or a
malformed one, answers 416 with ``Content-Range: bytes */N`` (as Go's ``http.ServeContent``). More than
:data:`MAX_RANGES` ranges, or ranges adding up to more than the body, are ignored (200, the whole body).

References: RFC 9110 §14 (Range, Content-Range, 206, 416, multipart/byteranges), §13.1.5 (If-Range).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.helpers import positive_bounded
from apitest.endpoints.httpbin_caching import http_date, parse_http_date, precondition_status, quoted
from apitest.endpoints.httpbin_support import MAX_BODY, duration_param
from apitest.http import ParamError, StreamResponse, error_response, parse_int

TEXT = "text/plain; charset=utf-8"
LAST_MODIFIED = datetime(2000, 1, 1, tzinfo=UTC)  # fixed, so a date If-Range can match
BOUNDARY = "apitest-byteranges"  # never in the body: the body is lowercase letters only
MAX_RANGES = 64
MAX_WRITES = 10_000
CHUNK_DEFAULT = 10 * 1024
_ALPHABET = b"abcdefghijklmnopqrstuvwxyz"
_SPEC = re.compile(r"\s*(\d{0,19})\s*-\s*(\d{0,19})\s*")


class Unsatisfiable(Exception):
    """The Range header is malformed or no range overlaps the body: 416."""


def letters(start: int, length: int) -> bytes:
    """Bytes ``start`` to ``start + length`` of the body; byte i is ``'a' + i % 26``."""
    offset = start % len(_ALPHABET)
    return (_ALPHABET * (-(-(offset + length) // len(_ALPHABET))))[offset : offset + length]


def parse_range(header: str, size: int) -> list[tuple[int, int]] | None:
    """``[(first, last), ...]`` (inclusive) of a ``Range`` header; None when it is to be ignored.

    Raises :class:`Unsatisfiable` for a malformed header or when no range overlaps ``[0, size)``.
    """
    unit, sep, specs = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        raise Unsatisfiable("invalid range: only bytes=first-last, first- and -suffix ranges are supported")
    members = [m for m in specs.split(",") if m.strip()]
    if len(members) > MAX_RANGES:
        return None
    ranges: list[tuple[int, int]] = []
    for member in members:
        match = _SPEC.fullmatch(member)
        if match is None or match.group(1) == match.group(2) == "":
            raise Unsatisfiable(f"invalid range: {member.strip()[:64]!r}")
        first, last = match.group(1), match.group(2)
        if first == "":  # suffix: the last N bytes
            n = min(int(last), size)
            if n > 0:
                ranges.append((size - n, size - 1))
            continue
        start = int(first)
        end = size - 1 if last == "" else int(last)
        if last != "" and end < start:
            raise Unsatisfiable(f"invalid range: {member.strip()[:64]!r} ends before it starts")
        if start < size:
            ranges.append((start, min(end, size - 1)))
    if not ranges:
        raise Unsatisfiable("range not satisfiable: no range overlaps the body")
    if sum(b - a + 1 for a, b in ranges) > size:
        return None  # Go's ServeContent: more bytes asked than the body has → send it whole
    return ranges


def if_range_holds(header: str, etag: str) -> bool:
    """RFC 9110 §13.1.5: a strong ETag equal to ours, or exactly our Last-Modified date."""
    value = header.strip()
    if value.startswith(('"', "W/")):
        return value == quoted(etag)
    date = parse_http_date(value)
    return date is not None and date == LAST_MODIFIED


def multipart(ranges: list[tuple[int, int]], size: int) -> bytes:
    parts = [
        f"--{BOUNDARY}\r\nContent-Type: {TEXT}\r\nContent-Range: bytes {a}-{b}/{size}\r\n\r\n".encode()
        + letters(a, b - a + 1)
        + b"\r\n"
        for a, b in ranges
    ]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def paced(body: bytes, chunk_size: int, duration: float) -> AsyncGenerator[bytes, None]:
    """``body`` in ``chunk_size`` pieces spread over ``duration`` (no pause after the last)."""
    size = max(chunk_size, -(-len(body) // MAX_WRITES))
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    for i, piece in enumerate(pieces):
        yield piece
        if duration and i < len(pieces) - 1:
            await asyncio.sleep(duration / len(pieces))


def ranged_body(ranges: list[tuple[int, int]] | None, size: int, headers: dict[str, str]) -> tuple[bytes, str]:
    """The body and content type for ``ranges`` (None: the whole body); sets Content-Range for one range."""
    if ranges is None:
        return letters(0, size), TEXT
    if len(ranges) == 1:
        first, last = ranges[0]
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        return letters(first, last - first + 1), TEXT
    return multipart(ranges, size), f"multipart/byteranges; boundary={BOUNDARY}"


async def byte_range(request: Request) -> Response:
    size = parse_int(request.path_params["numbytes"])
    if size is None or not 1 <= size <= MAX_BODY:
        raise ParamError(f"invalid count: must be an integer in [1, {MAX_BODY}]")
    duration = duration_param(request, "duration", 0.0)
    chunk_size = positive_bounded(request, "chunk_size", CHUNK_DEFAULT, MAX_BODY)
    etag = f"range{size}"
    headers = {"ETag": quoted(etag), "Accept-Ranges": "bytes", "Last-Modified": http_date(LAST_MODIFIED)}
    if (status := precondition_status(request, etag, LAST_MODIFIED)) is not None:
        return Response(status_code=status, headers=headers)
    ranges = None
    header = request.headers.get("range")
    if header is not None and if_range_holds(request.headers.get("if-range", quoted(etag)), etag):
        try:
            ranges = parse_range(header, size)
        except Unsatisfiable as exc:
            return error_response(str(exc), 416, headers | {"Content-Range": f"bytes */{size}"})
    body, content_type = ranged_body(ranges, size, headers)
    return StreamResponse(
        paced(body, chunk_size, duration),
        content_type=content_type,
        status_code=200 if ranges is None else 206,
        headers=headers,
        content_length=len(body),
    )
