"""The audit wired into the real app on SQLite: rows for /v1, none for everything else, drain on shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from apitest.app import create_app
from apitest.audit.records import AuditFilters
from apitest.audit.store_sql import SQLAuditStore
from apitest.db.engine import Database
from tests.conftest import ClientFactory
from tests.support import live_server, make_app, make_settings


def audit_on(url: str, **audit: Any) -> dict[str, Any]:
    return {"database": {"url": url}, "audit": {"enabled": True, "flush_interval_ms": 20, **audit}}


async def stored(url: str, filters: AuditFilters | None = None) -> int:
    database = Database(url)
    try:
        return await SQLAuditStore(database).count(filters or AuditFilters())
    finally:
        await database.dispose()


async def test_v1_requests_are_recorded(client_factory: ClientFactory, sqlite_url: str) -> None:
    client = await client_factory(audit_on(sqlite_url))
    state = client.app.state  # type: ignore[attr-defined]
    assert state.audit is not None and state.audit_store is not None
    for _ in range(3):
        assert (await client.get("/v1/whoami", headers={"X-Api-Key": "k"})).status_code in (200, 401)
    assert await state.audit.flush(within=5.0)
    page = await state.audit_store.list_page(AuditFilters(path="/v1/whoami"))
    assert len(page.events) == 3
    row = await state.audit_store.get(page.events[0].id)
    assert row is not None and row.payload is not None and row.payload.request_headers is not None
    assert row.payload.request_headers["X-Api-Key"] == ["[redacted]"]
    assert state.audit.stats.written_total == 3


async def test_only_v1_is_audited(client_factory: ClientFactory, sqlite_url: str) -> None:
    client = await client_factory(audit_on(sqlite_url))
    state = client.app.state  # type: ignore[attr-defined]
    assert state.audit is not None
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    calls = [
        ("GET", "/healthz", {}),
        ("GET", "/readyz", {}),
        ("GET", "/", {}),
        ("GET", "/openapi.json", {}),
        ("GET", "/openapi.yaml", {}),
        ("GET", "/docs", {}),
        ("GET", "/.well-known/oauth-protected-resource", {}),
        ("OPTIONS", "/v1/whoami", preflight),
        ("GET", "/portal/", {}),
        ("GET", "/nope/v1/x", {}),
    ]
    for method, path, headers in calls:
        await client.request(method, path, headers=headers)
    assert await state.audit.flush(within=5.0)
    assert state.audit.stats.accepted_total == 0
    assert await stored(sqlite_url) == 0
    await client.get("/v1/whoami")
    assert await state.audit.flush(within=5.0)
    assert await stored(sqlite_url) == 1


@pytest.mark.parametrize(
    ("method", "path", "status", "category", "allow"),
    [
        ("GET", "/v1/no-such-endpoint?x=%41", 404, "no_route", None),
        ("POST", "/v1", 404, "no_route", None),
        ("DELETE", "/v1/whoami", 405, "method_not_allowed", "GET, HEAD"),
    ],
)
async def test_unrouted_v1_requests_leave_a_row(
    client_factory: ClientFactory,
    sqlite_url: str,
    method: str,
    path: str,
    status: int,
    category: str,
    allow: str | None,
) -> None:
    client = await client_factory(audit_on(sqlite_url))
    state = client.app.state  # type: ignore[attr-defined]
    assert state.audit is not None and state.audit_store is not None
    r = await client.request(method, path)
    assert r.status_code == status and r.headers.get("allow") == allow
    assert r.json() == {"error": "no such endpoint" if status == 404 else "method not allowed"}
    assert await state.audit.flush(within=5.0)
    [row] = (await state.audit_store.list_page(AuditFilters())).events
    assert (row.method, row.path, row.status, row.route_name) == (method, path.split("?")[0], status, None)
    assert row.error_category == category and row.success is False


def test_the_audit_needs_a_database() -> None:
    settings = make_settings()
    settings.audit.enabled = True  # what validation refuses: the app refuses it too
    with pytest.raises(RuntimeError, match=r"audit\.enabled requires database\.url"):
        create_app(settings)


async def test_retention_job_is_started_only_with_a_retention(client_factory: ClientFactory, sqlite_url: str) -> None:
    client = await client_factory(audit_on(sqlite_url, retention_days=0))
    state = client.app.state  # type: ignore[attr-defined]
    assert state.audit_retention is not None and not state.audit_retention.enabled


def test_shutdown_drains_every_served_request(sqlite_url: str) -> None:
    # A long flush interval keeps everything in the buffer until the lifespan drains it.
    app = make_app(audit_on(sqlite_url, flush_interval_ms=60_000, batch_size=4096))
    with live_server(app) as server:

        async def burst() -> list[int]:
            async with httpx.AsyncClient(base_url=server.url) as client:
                replies = await asyncio.gather(*(client.get("/v1/whoami") for _ in range(150)))
            return [r.status_code for r in replies]

        codes = asyncio.run(burst())
        assert asyncio.run(stored(sqlite_url)) == 0  # still buffered
    assert codes == [200] * 150
    assert asyncio.run(stored(sqlite_url, AuditFilters(path="/v1/whoami", success=True))) == 150
