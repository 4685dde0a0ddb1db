"""Export group: large deterministic downloads (a JSON array of about N KiB, a CSV of N rows) and a
slow first byte. Rows are ``{index, value}`` with value = first 16 hex of sha256("<seed>:<index>")."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.helpers import positive_bounded, query, sleep_unless_disconnected
from apitest.endpoints.seeded import export_value
from apitest.failures import note_failure
from apitest.http import JSON_TYPE, StreamResponse, json_response
from apitest.registry import CSV, INT, STR, Param, Reply, RouteSpec, bad_request, obj, ok

SIZE_KB_DEFAULT, SIZE_KB_MAX = 64, 10240
ROWS_DEFAULT, ROWS_MAX = 1000, 250000
DURATION_DEFAULT, DURATION_MAX = 1000, 60000
FLUSH_ROWS = 64
CANCELLED_STATUS = 499


def big_body_row(seed: str, index: int) -> str:
    return f'{{"index":{index},"value":"{export_value(seed, index)}"}}'


async def big_body_chunks(size_kb: int, seed: str) -> AsyncGenerator[bytes, None]:
    """The length rule (docs/endpoints.md): count ``[`` and every row with its leading comma; add rows
    while the count is below size_kb·1024 and fewer than size_kb·1024/40 + 64 rows were written; then ``]``."""
    target = size_kb * 1024
    max_rows = target // 40 + 64
    written = 1
    rows = 0
    batch = ["["]
    while written < target and rows < max_rows:
        row = ("," if rows else "") + big_body_row(seed, rows)
        written += len(row)
        batch.append(row)
        rows += 1
        if rows % FLUSH_ROWS == 0:
            yield "".join(batch).encode()
            batch = []
    batch.append("]")
    yield "".join(batch).encode()


async def big_body(request: Request) -> Response:
    size_kb = positive_bounded(request, "size_kb", SIZE_KB_DEFAULT, SIZE_KB_MAX)
    return StreamResponse(big_body_chunks(size_kb, query(request, "seed")), content_type=JSON_TYPE)


async def csv_chunks(rows: int, seed: str) -> AsyncGenerator[bytes, None]:
    yield b"index,value\n"
    for start in range(0, rows, FLUSH_ROWS):
        stop = min(start + FLUSH_ROWS, rows)
        yield "".join(f"{i},{export_value(seed, i)}\n" for i in range(start, stop)).encode()


async def csv(request: Request) -> Response:
    rows = positive_bounded(request, "rows", ROWS_DEFAULT, ROWS_MAX)
    return StreamResponse(csv_chunks(rows, query(request, "seed")), content_type=CSV)


async def long_running(request: Request) -> Response:
    duration = positive_bounded(request, "duration_ms", DURATION_DEFAULT, DURATION_MAX)
    if await sleep_unless_disconnected(request, duration / 1000):
        return json_response({"slept_ms": duration})
    # The client is gone, so nothing reaches it; the status is for the access log and the audit.
    note_failure(request.scope, "client_disconnected", f"client disconnected before {duration} ms passed")
    return Response(status_code=CANCELLED_STATUS)


SEED = Param("seed", default="", description="Seed of the values; the same seed gives the same bytes.")

ROUTES = [
    RouteSpec(
        "export_big_body",
        "GET",
        "/v1/export/big-body",
        "export",
        "A deterministic JSON array of about size_kb KiB, streamed (flushed every 64 rows).",
        big_body,
        params=(
            Param(
                "size_kb",
                "integer",
                default=SIZE_KB_DEFAULT,
                minimum=1,
                maximum=SIZE_KB_MAX,
                description="Approximate size in KiB (the array ends at the first row boundary past it).",
            ),
            SEED,
        ),
        responses={
            200: ok({"type": "array", "items": obj({"index": INT, "value": STR})}),
            400: bad_request("size_kb not a positive integer, or above 10240."),
        },
    ),
    RouteSpec(
        "export_csv",
        "GET",
        "/v1/export/csv",
        "export",
        "A deterministic CSV download: header index,value then one line per row, streamed.",
        csv,
        params=(
            Param("rows", "integer", default=ROWS_DEFAULT, minimum=1, maximum=ROWS_MAX, description="Data rows."),
            SEED,
        ),
        responses={
            200: ok({"type": "string", "example": "index,value\n0,5feceb66ffc86f38\n"}, content_type=CSV),
            400: bad_request("rows not a positive integer, or above 250000."),
        },
    ),
    RouteSpec(
        "export_long_running",
        "GET",
        "/v1/export/long-running",
        "export",
        "Waits duration_ms before the first byte, then answers with the requested duration.",
        long_running,
        params=(
            Param(
                "duration_ms",
                "integer",
                default=DURATION_DEFAULT,
                minimum=1,
                maximum=DURATION_MAX,
                description="Wait before answering, in ms.",
            ),
        ),
        responses={
            200: ok(obj({"slept_ms": INT})),
            400: bad_request("duration_ms not a positive integer, or above 60000."),
            499: Reply("The client disconnected first; nothing is sent (recorded in the audit).", None),
        },
    ),
]
