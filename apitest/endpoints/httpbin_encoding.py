"""Content codings: ``/gzip``, ``/deflate`` and ``/brotli`` (always encoded, as go-httpbin), and the
``Accept-Encoding`` negotiation ``/v1/sized`` uses.

Negotiation (RFC 9110 §12.5.3): the listed coding with the highest q-value wins among ``br``, ``gzip`` and
``deflate`` (``*`` stands for any coding not listed); ties go to br, then gzip, then deflate; q=0 refuses a
coding. No header, or nothing acceptable, gives identity. Malformed members are skipped, never a 400.

References: RFC 9110 §8.4.1 (gzip, deflate = zlib), RFC 7932 (brotli).
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol

import brotli  # type: ignore[import-untyped]
from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.deps import EndpointDeps, needs_deps
from apitest.endpoints.httpbin_support import request_summary
from apitest.http import JSON_TYPE, json_bytes

CODINGS = ("br", "gzip", "deflate")  # server preference on equal q
MAX_MEMBERS = 64  # an Accept-Encoding longer than this is read up to here
_MEMBER = re.compile(r"\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*(?:;\s*[qQ]\s*=\s*(0(?:\.\d{0,3})?|1(?:\.0{0,3})?))?\s*")


def accepted_q(header: str) -> dict[str, float]:
    """coding → q-value of the well-formed members (names lowercased; the first mention of a name wins)."""
    out: dict[str, float] = {}
    for member in header.split(",")[:MAX_MEMBERS]:
        match = _MEMBER.fullmatch(member)
        if match is None:
            continue
        name = match.group(1).lower()
        out.setdefault(name, float(match.group(2)) if match.group(2) else 1.0)
    return out


def negotiate(header: str | None) -> str:
    """``br``, ``gzip``, ``deflate`` or ``identity`` for an ``Accept-Encoding`` value (None: header absent)."""
    if not header:
        return "identity"
    q = accepted_q(header)
    wildcard = q.get("*", 0.0)
    best, best_q = "identity", 0.0
    for coding in CODINGS:
        value = q.get(coding, wildcard)
        if value > best_q:
            best, best_q = coding, value
    return best


class Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class _Brotli:
    def __init__(self) -> None:
        self.inner = brotli.Compressor()

    def compress(self, data: bytes) -> bytes:
        return bytes(self.inner.process(data))

    def flush(self) -> bytes:
        return bytes(self.inner.finish())


COMPRESSORS: dict[str, Callable[[], Compressor]] = {
    "gzip": lambda: zlib.compressobj(wbits=31),
    "deflate": lambda: zlib.compressobj(),
    "br": _Brotli,
}


async def encoded(chunks: AsyncGenerator[bytes, None], coding: str) -> AsyncGenerator[bytes, None]:
    """``chunks`` compressed with ``coding`` as they come (output only when the compressor emits some)."""
    compressor = COMPRESSORS[coding]()
    try:
        async for chunk in chunks:
            out = compressor.compress(chunk)
            if out:
                yield out
    finally:
        await chunks.aclose()
    yield compressor.flush()


def _compressed(
    request: Request, deps: EndpointDeps, coding: str, flag: str, compress: Callable[[bytes], bytes]
) -> Response:
    body: dict[str, Any] = request_summary(request, deps.sensitive, with_url=False) | {flag: True}
    headers = {"Content-Encoding": coding}
    return Response(compress(json_bytes(body)), headers=headers, media_type=JSON_TYPE)


@needs_deps
async def gzip_body(request: Request, *, deps: EndpointDeps) -> Response:
    return _compressed(request, deps, "gzip", "gzipped", lambda data: gzip.compress(data, mtime=0))


@needs_deps
async def deflate_body(request: Request, *, deps: EndpointDeps) -> Response:
    return _compressed(request, deps, "deflate", "deflated", zlib.compress)


@needs_deps
async def brotli_body(request: Request, *, deps: EndpointDeps) -> Response:
    return _compressed(request, deps, "br", "brotli", lambda data: bytes(brotli.compress(data)))
