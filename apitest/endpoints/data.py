"""Data group: bodies that are a pure function of the request (fixed by key, exact size, seeded lorem)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.helpers import query
from apitest.endpoints.httpbin_encoding import encoded, negotiate
from apitest.endpoints.seeded import lorem_sentence, sha256_hex
from apitest.http import JSON_TYPE, ParamError, StreamResponse, json_response, parse_int, parse_int_clamped
from apitest.registry import INT, STR, Param, RouteSpec, bad_request, obj, ok

SIZED_MAX = 32 * 1024 * 1024
SIZED_PIECE = 4096
LOREM_DEFAULT = 50
LOREM_MAX = 5000

_ALPHABET = b"abcdefghijklmnopqrstuvwxyz"
_PATTERN = _ALPHABET * (SIZED_PIECE // len(_ALPHABET) + 2)
VARY = {"Vary": "Accept-Encoding"}


async def fixed(request: Request) -> Response:
    key = request.path_params["key"]
    digest = sha256_hex(key)
    return json_response({"key": key, "hash": digest, "body": f"fixed[{key}]: {digest}"})


def sized_prefix(size: int) -> bytes:
    return b'{"bytes":%d,"body":"' % size


async def _sized_chunks(size: int) -> AsyncGenerator[bytes, None]:
    yield sized_prefix(size)
    offset = 0
    while offset < size:
        n = min(SIZED_PIECE, size - offset)
        start = offset % len(_ALPHABET)
        yield _PATTERN[start : start + n]
        offset += n
    yield b'"}'


async def sized(request: Request) -> Response:
    size = parse_int(query(request, "bytes"))
    if size is None or size < 0:
        raise ParamError("bytes must be a non-negative integer")
    if size > SIZED_MAX:
        raise ParamError(f"bytes {size} exceeds max {SIZED_MAX}")
    coding = negotiate(request.headers.get("accept-encoding"))
    if coding == "identity":
        length = len(sized_prefix(size)) + size + 2
        return StreamResponse(_sized_chunks(size), content_type=JSON_TYPE, content_length=length, headers=VARY)
    headers = VARY | {"Content-Encoding": coding}
    return StreamResponse(encoded(_sized_chunks(size), coding), content_type=JSON_TYPE, headers=headers)


async def lorem(request: Request) -> Response:
    # Go's Atoi with its error ignored: junk → 0 → default; an int64 overflow keeps the clamped extreme.
    words = parse_int_clamped(query(request, "words")) or 0
    if words <= 0:
        words = LOREM_DEFAULT
    if words > LOREM_MAX:
        raise ParamError(f"words {words} exceeds max {LOREM_MAX}")
    return json_response({"words": words, "body": lorem_sentence(words, query(request, "seed"))})


ROUTES = [
    RouteSpec(
        "fixed",
        "GET",
        "/v1/fixed/{key}",
        "data",
        "A body fixed by the key: its SHA-256, the same for every call.",
        fixed,
        params=(Param("key", required=True, location="path", description="Any single path segment."),),
        responses={200: ok(obj({"key": STR, "hash": STR, "body": STR}))},
    ),
    RouteSpec(
        "sized",
        "GET",
        "/v1/sized",
        "data",
        "A JSON body of exactly the requested size, streamed in 4 KiB pieces with a Content-Length; compressed "
        "(br, gzip or deflate, no Content-Length) when Accept-Encoding asks for it.",
        sized,
        params=(
            Param(
                "Accept-Encoding",
                location="header",
                description="br, gzip, deflate with q-values (RFC 9110); absent or none acceptable: identity.",
            ),
            Param(
                "bytes",
                "integer",
                required=True,
                minimum=0,
                maximum=SIZED_MAX,
                description="Length of the body string (a-z repeated); the response is this plus "
                'len(\'{"bytes":N,"body":""}\') bytes, with no trailing newline.',
            ),
        ),
        responses={
            200: ok(obj({"bytes": INT, "body": STR}), headers=("Vary", "Content-Encoding")),
            400: bad_request("bytes missing, not a non-negative integer, or above 33554432."),
        },
    ),
    RouteSpec(
        "lorem",
        "GET",
        "/v1/lorem",
        "data",
        "Seeded lorem ipsum: the same seed and word count give the same sentence.",
        lorem,
        params=(
            Param(
                "words",
                "integer",
                default=LOREM_DEFAULT,
                maximum=LOREM_MAX,
                description="Number of words; missing, not an integer, 0 or negative means 50.",
            ),
            Param("seed", description="Seed of the word choice; without one every call differs."),
        ),
        responses={200: ok(obj({"words": INT, "body": STR})), 400: bad_request("words above 5000.")},
    ),
]
