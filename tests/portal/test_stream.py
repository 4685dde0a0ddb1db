"""Live tail (SSE) and the NDJSON / CSV exports."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from apitest.audit.records import AuditFilters, Cursor, EventRecord
from apitest.audit.store_memory import MemoryAuditStore
from apitest.portal.stream import csv_lines, export_rows, ndjson_lines, tail_events
from tests.portal.conftest import KEY, flush, portal_overrides
from tests.support import live_server, make_app

H = {"X-API-Key": KEY}
T0 = datetime(2026, 11, 21, 10, tzinfo=UTC)


def event(n: int, **fields: Any) -> EventRecord:
    base: dict[str, Any] = {"method": "GET", "path": f"/v1/p{n}", "status": 200, "success": True}
    base.update(fields)
    return EventRecord(id=str(uuid.UUID(int=n)), ts=T0 + timedelta(seconds=n), **base)


async def test_tail_sends_rows_stored_after_it_started_in_write_order() -> None:
    store = MemoryAuditStore()
    await store.append_many([event(1)])
    start = Cursor(datetime.now(UTC), "")
    stream = tail_events(store, AuditFilters(status_class=5), start, poll=0.01)
    assert await anext(stream) == b"retry: 3000\n: stream open\n\n"
    # A long request that started before the tail did still appears: the tail follows recorded_at.
    await store.append_many([event(0, status=500, success=False), event(2, status=200), event(3, status=503)])
    first, second = await anext(stream), await anext(stream)
    assert first.startswith(b"id: ") and b"event: audit\n" in first
    assert [json.loads(x.split(b"data: ", 1)[1])["path"] for x in (first, second)] == ["/v1/p0", "/v1/p3"]
    await stream.aclose()


async def test_tail_resumes_from_its_id() -> None:
    store = MemoryAuditStore()
    start = Cursor(datetime.now(UTC) - timedelta(seconds=1), "")
    await store.append_many([event(1)])
    stream = tail_events(store, AuditFilters(), start, poll=0.01)
    await anext(stream)
    sent = await anext(stream)
    await stream.aclose()
    from apitest.audit.filters import decode_cursor

    resume = decode_cursor(sent.split(b"\n")[0][4:].decode())
    await store.append_many([event(2)])
    again = tail_events(store, AuditFilters(), resume, poll=0.01)
    await anext(again)
    assert b"/v1/p2" in await anext(again)
    await again.aclose()


async def test_tail_reports_query_errors() -> None:
    class Broken(MemoryAuditStore):
        async def tail(self, filters: AuditFilters, after: Cursor, limit: int = 1000) -> Any:
            raise RuntimeError("db down")

    stream = tail_events(Broken(), AuditFilters(), Cursor(T0, ""), poll=0.01)
    await anext(stream)
    assert await anext(stream) == b'event: error\ndata: {"error": "RuntimeError: db down"}\n\n'
    await stream.aclose()


async def collect(gen: Any) -> bytes:
    return b"".join([chunk async for chunk in gen])


async def test_exports_hold_every_filtered_row() -> None:
    store = MemoryAuditStore()
    await store.append_many([event(n, status=500 if n % 3 == 0 else 200) for n in range(2500)])
    filters = AuditFilters(status=500)
    lines = (await collect(ndjson_lines(export_rows(store, filters, None)))).decode().splitlines()
    assert len(lines) == 834
    assert json.loads(lines[0])["path"] == "/v1/p2499" and json.loads(lines[-1])["path"] == "/v1/p0"
    rows = list(csv.reader(io.StringIO((await collect(csv_lines(export_rows(store, filters, None)))).decode())))
    assert rows[0][:3] == ["id", "timestamp", "method"] and len(rows) == 835


async def test_export_limit_is_stated_in_a_trailer() -> None:
    store = MemoryAuditStore()
    await store.append_many([event(n) for n in range(10)])
    lines = (await collect(ndjson_lines(export_rows(store, AuditFilters(), 4)))).decode().splitlines()
    assert len(lines) == 5 and json.loads(lines[-1]) == {"_export_truncated": True, "_limit": 4}
    text = (await collect(csv_lines(export_rows(store, AuditFilters(), 4)))).decode()
    assert text.endswith("# export truncated: limit of 4 rows reached\r\n")


async def test_export_error_is_stated_not_hidden() -> None:
    class Failing(MemoryAuditStore):
        calls = 0

        async def list_page(self, filters: AuditFilters, after: Cursor | None = None, limit: int = 50) -> Any:
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("connection lost")
            return await super().list_page(filters, after, limit)

    store = Failing()
    await store.append_many([event(n) for n in range(1500)])
    lines = (await collect(ndjson_lines(export_rows(store, AuditFilters(), None)))).decode().splitlines()
    assert len(lines) == 1001
    assert json.loads(lines[-1]) == {"_export_error": "RuntimeError: connection lost"}


async def test_csv_cells_cannot_become_formulas() -> None:
    store = MemoryAuditStore()
    await store.append_many([event(1, path="/v1/x", user_agent='=HYPERLINK("http://evil")')])
    rows = list(csv.reader(io.StringIO((await collect(csv_lines(export_rows(store, AuditFilters(), None)))).decode())))
    assert rows[1][rows[0].index("user_agent")] == '\'=HYPERLINK("http://evil")'


async def test_export_routes_stream_the_filtered_rows(portal: httpx.AsyncClient) -> None:
    for path in ("/v1/whoami", "/v1/status/500", "/v1/whoami"):
        await portal.get(path, headers=H)
    await flush(portal)
    r = await portal.get("/api/v1/portal/audit/export.ndjson?route_name=whoami", headers=H)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-ndjson"
    assert r.headers["content-disposition"].startswith('attachment; filename="audit-events-')
    assert [json.loads(x)["path"] for x in r.text.splitlines()] == ["/v1/whoami", "/v1/whoami"]
    r = await portal.get("/api/v1/portal/audit/export.csv?status=5xx", headers=H)
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(r.text)))
    assert len(rows) == 2 and rows[1][3] == "/v1/status/500"
    assert (await portal.get("/api/v1/portal/audit/export.csv?status=x", headers=H)).status_code == 400
    assert (await portal.get("/api/v1/portal/audit/export.csv")).status_code == 401


@pytest.mark.slow
def test_live_tail_over_a_real_server(tmp_path: Any) -> None:
    app = make_app(portal_overrides(tmp_path))
    with live_server(app) as server, httpx.Client(base_url=server.url, headers=H, timeout=10) as client:
        with client.stream("GET", "/api/v1/portal/audit/stream?route_name=whoami") as stream:
            assert stream.headers["content-type"] == "text/event-stream"
            assert stream.headers["cache-control"] == "no-store"
            lines = stream.iter_lines()
            assert next(lines) == "retry: 3000"
            httpx.get(server.url + "/v1/status/500", headers=H)
            httpx.get(server.url + "/v1/whoami", headers=H)
            got = []
            for line in lines:
                if line.startswith("data: "):
                    got.append(json.loads(line[6:])["path"])
                    break
            assert got == ["/v1/whoami"]
