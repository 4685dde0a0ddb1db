"""The audit against a real PostgreSQL server (``make integration``), through real uvicorn on loopback.

Covers the reference's §6 checks (whoami row with the key redacted, success=false for 503, no rows for
/healthz, filter counts) plus rejected requests, truncation, streams, drain on shutdown, and a writer
that survives the database going away mid-run (the reliability suite's TCP proxy in front of Postgres
has an outage and is restored; the shared server itself is never touched).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from apitest.audit.records import AuditFilters, EventRecord
from apitest.audit.store_sql import SQLAuditStore
from apitest.db.engine import Database
from apitest.registry import RouteSpec
from tests.audit.test_live import ROUTES as STREAM_ROUTES
from tests.reliability.proxy import TcpProxy
from tests.support import LiveServer, live_server, make_app

pytestmark = pytest.mark.integration

KEY = "integration-api-key-secret"
BEARER = "integration-bearer-token-secret"
GROUPS = ["identity", "data", "failure", "echo"]


def settings_for(url: str, **audit: Any) -> dict[str, Any]:
    return {
        "auth": {"allow_anonymous": False},
        "api_keys": {"file": [{"name": "intkey", "key": KEY}]},
        "bearer": {"tokens": [{"name": "intbearer", "token": BEARER}]},
        "database": {"url": url},
        "audit": {"enabled": True, "max_payload_bytes": 65536, "flush_interval_ms": 50, **audit},
    }


class Rows:
    """Reads the audit straight from Postgres (not through the app), polling as the §6 tests do."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def _run(self, fn: Any) -> Any:
        database = Database(self.url)
        try:
            return await fn(SQLAuditStore(database))
        finally:
            await database.dispose()

    def count(self, filters: AuditFilters | None = None) -> int:
        return int(asyncio.run(self._run(lambda s: s.count(filters or AuditFilters()))))

    def wait(self, filters: AuditFilters, n: int, within: float = 3.0) -> int:
        deadline = time.monotonic() + within
        while (found := self.count(filters)) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def summaries(self, filters: AuditFilters) -> list[EventRecord]:
        """Up to 1000 matching events, without payloads."""
        return list(asyncio.run(self._run(lambda s: s.list_page(filters, None, limit=1000))).events)

    def events(self, filters: AuditFilters) -> list[EventRecord]:
        async def full(store: SQLAuditStore) -> list[EventRecord]:
            page = await store.list_page(filters, None, limit=1000)
            return [r for e in page.events if (r := await store.get(e.id)) is not None]

        return list(asyncio.run(self._run(full)))


@pytest.fixture
def rows(pg_url: str) -> Rows:
    return Rows(pg_url)


@pytest.fixture
def server(pg_url: str) -> Iterator[LiveServer]:
    with live_server(make_app(settings_for(pg_url), groups=GROUPS)) as running:
        yield running


def test_whoami_row_with_the_key_redacted(server: LiveServer, rows: Rows) -> None:
    r = httpx.get(f"{server.url}/v1/whoami", headers={"X-API-Key": KEY})
    assert r.status_code == 200 and r.json()["auth_type"] == "apikey"
    assert rows.wait(AuditFilters(path="/v1/whoami"), 1) == 1
    [row] = rows.events(AuditFilters(path="/v1/whoami"))
    assert (row.method, row.status, row.success, row.auth_type, row.api_key_name) == (
        "GET",
        200,
        True,
        "apikey",
        "intkey",
    )
    assert row.user_subject == "intkey" and row.route_name == "whoami"
    assert row.request_id == r.headers["x-request-id"]
    p = row.payload
    assert p is not None and p.request_headers is not None
    assert p.request_headers["X-Api-Key"] == ["[redacted]"]
    assert KEY.encode() not in repr(row).encode()
    assert p.response_content_type == "application/json"
    assert p.response_body is not None and b'"auth_type":"apikey"' in p.response_body


def test_503_is_a_failure_and_healthz_is_not_audited(server: LiveServer, rows: Rows) -> None:
    for _ in range(3):
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert httpx.get(f"{server.url}/v1/status/503", headers={"X-API-Key": KEY}).status_code == 503
    assert rows.wait(AuditFilters(path="/v1/status/503"), 1) == 1
    [row] = rows.events(AuditFilters(path="/v1/status/503"))
    assert (row.status, row.success) == (503, False)
    assert row.error_category in ("server_error", "fault_injected")
    assert rows.count(AuditFilters(path="/healthz")) == 0
    assert rows.count() == 1


def test_filter_counts(server: LiveServer, rows: Rows) -> None:
    h = {"X-API-Key": KEY}
    for path in ("/v1/whoami", "/v1/status/200", "/v1/status/500", "/v1/whoami"):
        httpx.get(f"{server.url}{path}", headers=h)
    assert rows.wait(AuditFilters(), 4) == 4
    assert rows.count(AuditFilters(status=500)) == 1
    assert rows.count(AuditFilters(user="intkey")) == 4
    assert rows.count(AuditFilters(q="whoami")) == 2
    assert rows.count(AuditFilters(success=False)) == 1


def test_rejected_requests_are_recorded_with_the_reason(server: LiveServer, rows: Rows) -> None:
    cases = [
        ({}, "missing_credential"),
        ({"X-API-Key": "wrong-key"}, "invalid_credential"),
        ({"Authorization": "Bearer wrong-token"}, "invalid_credential"),
    ]
    for headers, _ in cases:
        assert httpx.get(f"{server.url}/v1/whoami", headers=headers).status_code == 401
    assert rows.wait(AuditFilters(status=401), 3) == 3
    found = sorted((r.error_category or "", r.error_message or "") for r in rows.events(AuditFilters(status=401)))
    assert [c for c, _ in found] == sorted(c for _, c in cases)
    for _, message in found:
        assert message and "wrong-key" not in message and "wrong-token" not in message
    assert all(not r.success and r.auth_type is None for r in rows.events(AuditFilters(status=401)))


def test_truncation_flags(server: LiveServer, rows: Rows) -> None:
    body = b"x" * 100_000
    r = httpx.post(f"{server.url}/v1/echo", content=body, headers={"X-API-Key": KEY, "Content-Type": "text/plain"})
    assert r.status_code == 200
    assert rows.wait(AuditFilters(path="/v1/echo"), 1) == 1
    [row] = rows.events(AuditFilters(path="/v1/echo"))
    p = row.payload
    assert p is not None and p.request_body is not None and p.response_body is not None
    assert (len(p.request_body), p.request_truncated, p.request_size_bytes) == (65536, True, 100_000)
    assert (len(p.response_body), p.response_truncated, p.response_size_bytes) == (65536, True, len(r.content))
    assert (row.bytes_in, row.bytes_out) == (100_000, len(r.content))


def test_streaming_rows(pg_url: str, rows: Rows, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("apitest.app.enabled_routes", lambda groups: list(STREAM_ROUTES))
    app = make_app({"database": {"url": pg_url}, "audit": {"enabled": True, "flush_interval_ms": 50}})
    with live_server(app) as running:
        with httpx.stream("GET", f"{running.url}/v1/t/stream?n=3") as r:
            assert list(r.iter_lines()) == ["item 0", "item 1", "item 2"]
        with httpx.stream("GET", f"{running.url}/v1/t/stream?n=50") as r:
            next(r.iter_lines())
        assert rows.wait(AuditFilters(route_name="slow_stream"), 2) == 2
    complete, left = sorted(rows.events(AuditFilters(route_name="slow_stream")), key=lambda e: e.success)[::-1]
    assert complete.success and complete.payload is not None
    assert complete.payload.response_body == b"item 0\nitem 1\nitem 2\n"
    assert (left.success, left.error_category, left.status) == (False, "client_disconnected", 200)


def test_drain_on_shutdown_every_served_request_has_its_row(pg_url: str, rows: Rows) -> None:
    app = make_app(settings_for(pg_url, flush_interval_ms=60_000, batch_size=4096), groups=GROUPS)
    with live_server(app) as running:

        async def burst() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=8)
            async with httpx.AsyncClient(base_url=running.url, headers={"X-API-Key": KEY}, limits=limits) as client:
                paths = ["/v1/whoami", "/v1/status/201", "/v1/status/503", "/v1/headers"]
                return await asyncio.gather(*(client.get(paths[i % 4]) for i in range(200)))

        replies = asyncio.run(burst())
        assert rows.count() == 0  # held in the buffer: the flush interval is a minute
    served = {r.headers["x-request-id"] for r in replies}
    assert len(served) == 200
    summaries = rows.summaries(AuditFilters())
    assert len(summaries) == 200 and {e.request_id for e in summaries} == served


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0] + "@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{port}"))


@pytest.mark.slow
def test_the_writer_survives_the_database_going_away(pg_url: str, rows: Rows) -> None:
    target = urlsplit(pg_url)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        app = make_app(settings_for(_through(pg_url, proxy.port)), groups=GROUPS)
        state = app.state
        with live_server(app) as running, httpx.Client(base_url=running.url, headers={"X-API-Key": KEY}) as client:
            for _ in range(20):
                assert client.get("/v1/whoami").status_code == 200
            assert rows.wait(AuditFilters(), 20) == 20

            proxy.outage()  # the database is unreachable from the app from now on
            started = time.monotonic()
            for _ in range(30):
                assert client.get("/v1/whoami").status_code == 200
            assert time.monotonic() - started < 5, "requests waited on the database"
            assert state.audit is not None
            deadline = time.monotonic() + 10
            while state.audit.stats.write_errors_total == 0:
                assert time.monotonic() < deadline, "the writer never noticed the outage"
                time.sleep(0.05)
            assert rows.count() == 20

            proxy.restore()  # the database is back
            assert rows.wait(AuditFilters(), 50, within=20) == 50
            stats = state.audit.stats
            assert (stats.dropped_total, stats.written_total) == (0, 50)
            assert stats.write_errors_total >= 1 and stats.last_error


async def _admin_only(request: Request) -> Response:
    return Response("ok")


def test_insufficient_scope_is_recorded_with_the_caller(
    pg_url: str, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    scoped = RouteSpec("admin_only", "GET", "/v1/t/admin", "t", "needs the admin scope", _admin_only, scope="admin")
    monkeypatch.setattr("apitest.app.enabled_routes", lambda groups: [scoped])
    with live_server(make_app(settings_for(pg_url))) as running:
        r = httpx.get(f"{running.url}/v1/t/admin", headers={"X-API-Key": KEY})
        assert r.status_code == 403
    [row] = rows.events(AuditFilters(route_name="admin_only"))
    assert (row.status, row.success, row.error_category) == (403, False, "insufficient_scope")
    assert row.api_key_name == "intkey" and row.auth_type == "apikey"
    assert row.error_message is not None and "admin" in row.error_message
