"""Capture through a real uvicorn server on loopback (SQLite audit): streams, disconnects, broken responses."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from apitest.audit.records import AuditFilters, EventRecord
from apitest.audit.store_sql import SQLAuditStore
from apitest.db.engine import Database
from apitest.registry import RouteSpec
from tests.support import LiveServer, live_server, make_app

DELAY = 0.2


async def slow_stream(request: Request) -> Response:
    count = int(request.query_params.get("n", "3"))

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(count):
            await asyncio.sleep(DELAY)
            yield f"item {i}\n".encode()

    return StreamingResponse(chunks(), media_type="application/x-ndjson")


class HalfSent(Response):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        await send({"type": "http.response.body", "body": b"only part", "more_body": True})


async def half_sent(request: Request) -> Response:
    return HalfSent()


ROUTES = [
    RouteSpec("slow_stream", "GET", "/v1/t/stream", "t", "a slow stream", slow_stream),
    RouteSpec("half_sent", "GET", "/v1/t/half", "t", "a response left unfinished", half_sent),
]


@pytest.fixture
def server(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setattr("apitest.app.enabled_routes", lambda groups: list(ROUTES))
    app = make_app({"database": {"url": sqlite_url}, "audit": {"enabled": True, "flush_interval_ms": 20}})
    with live_server(app) as running:
        yield running


async def rows_eventually(url: str, filters: AuditFilters, n: int = 1, within: float = 5.0) -> list[EventRecord]:
    database = Database(url)
    store = SQLAuditStore(database)
    try:
        deadline = time.monotonic() + within
        while True:
            page = await store.list_page(filters, None, limit=100)
            if len(page.events) >= n or time.monotonic() > deadline:
                return [r for e in page.events if (r := await store.get(e.id)) is not None]
            await asyncio.sleep(0.05)
    finally:
        await database.dispose()


async def test_stream_items_arrive_as_produced_and_the_row_follows_the_end(server: LiveServer, sqlite_url: str) -> None:
    arrivals: list[float] = []
    async with httpx.AsyncClient(base_url=server.url) as client:
        started = time.monotonic()
        async with client.stream("GET", "/v1/t/stream?n=3") as r:
            async for _ in r.aiter_lines():
                arrivals.append(time.monotonic() - started)
                if len(arrivals) == 1:
                    # Nothing is recorded while the stream is still running.
                    assert await rows_eventually(sqlite_url, AuditFilters(), n=1, within=0.0) == []
    assert len(arrivals) == 3
    assert arrivals[0] < 2 * DELAY + 0.1 and arrivals[2] - arrivals[0] >= 2 * DELAY - 0.05
    [row] = await rows_eventually(sqlite_url, AuditFilters(route_name="slow_stream"))
    assert (row.status, row.success, row.error_category) == (200, True, None)
    assert row.duration_ms >= 3 * DELAY * 1000 - 50
    assert row.payload is not None and row.payload.response_body == b"item 0\nitem 1\nitem 2\n"


async def test_a_client_leaving_mid_stream_is_recorded(server: LiveServer, sqlite_url: str) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        async with client.stream("GET", "/v1/t/stream?n=50") as r:
            lines = r.aiter_lines()
            assert await anext(lines) == "item 0"
        # leaving the block without reading the rest closes the connection
    [row] = await rows_eventually(sqlite_url, AuditFilters(route_name="slow_stream"))
    assert (row.status, row.success, row.error_category) == (200, False, "client_disconnected")
    assert row.error_message is not None and row.error_message.startswith("client disconnected after")
    assert 0 < row.bytes_out < 50 * len(b"item 0\n")
    assert row.duration_ms < 50 * DELAY * 1000 / 2  # recorded when the client left, not when the stream would end


async def test_a_response_left_unfinished_is_an_internal_error(server: LiveServer, sqlite_url: str) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        with contextlib.suppress(httpx.HTTPError):
            await client.get("/v1/t/half")
    [row] = await rows_eventually(sqlite_url, AuditFilters(route_name="half_sent"))
    assert (row.status, row.success, row.error_category, row.bytes_out) == (200, False, "internal_error", 9)
    assert row.error_message == "handler returned before completing the response"
