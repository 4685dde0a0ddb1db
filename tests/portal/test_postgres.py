"""The portal's audit queries on PostgreSQL (part of `make integration`): pages, filters and the bounded count."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from apitest.portal import counting
from tests.conftest import ClientFactory
from tests.portal.conftest import KEY, flush, portal_overrides

pytestmark = pytest.mark.integration
H = {"X-API-Key": KEY}


async def pg_portal(client_factory: ClientFactory, tmp_path: Any, pg_url: str) -> httpx.AsyncClient:
    return await client_factory(portal_overrides(tmp_path, {"database": {"url": pg_url}}))


async def test_pages_filters_and_counts(client_factory: ClientFactory, tmp_path: Any, pg_url: str) -> None:
    client = await pg_portal(client_factory, tmp_path, pg_url)
    for path in ("/v1/whoami", "/v1/status/500", "/v1/status/404", "/v1/whoami", "/v1/status/503"):
        await client.get(path, headers=H)
    await client.post("/v1/echo", headers=H, content=b"needle-in-a-body")
    await flush(client)
    first = (await client.get("/api/v1/portal/audit/events?limit=2", headers=H)).json()
    assert first["total"] == 6 and len(first["events"]) == 2
    rest = (await client.get(f"/api/v1/portal/audit/events?next={first['next']}", headers=H)).json()
    assert len(rest["events"]) == 4 and rest["next"] is None
    assert (await client.get("/api/v1/portal/audit/events?status=5xx", headers=H)).json()["total"] == 2
    found = (await client.get("/api/v1/portal/audit/events?q=NEEDLE", headers=H)).json()
    assert [e["path"] for e in found["events"]] == ["/v1/echo"]
    assert found["total"] is None  # free text is not counted on PostgreSQL
    assert (await client.get("/api/v1/portal/audit/events?caller=tester&path=status", headers=H)).json()["total"] == 3
    stats = (await client.get("/api/v1/portal/audit/stats", headers=H)).json()
    assert stats["total"] == 6 and stats["errors"] == 3


async def test_a_slow_count_is_skipped_not_waited_for(
    client_factory: ClientFactory, tmp_path: Any, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await pg_portal(client_factory, tmp_path, pg_url)
    await client.get("/v1/whoami", headers=H)
    await flush(client)
    real = counting.conditions

    def slow(filters: Any, dialect: str) -> list[Any]:
        return [*real(filters, dialect), text("pg_sleep(0.5) IS NOT NULL")]

    monkeypatch.setattr(counting, "conditions", slow)
    body = (await client.get("/api/v1/portal/audit/events", headers=H)).json()
    assert body["total"] is None and len(body["events"]) == 1
    page = await client.get("/portal/audit", headers=H)
    assert "count skipped" in page.text


@pytest.mark.parametrize("param", ["q", "path", "caller", "user", "request_id"])
async def test_a_nul_or_lone_surrogate_in_a_filter_is_a_400(
    client_factory: ClientFactory, tmp_path: Any, pg_url: str, param: str
) -> None:
    client = await pg_portal(client_factory, tmp_path, pg_url)
    for value in ("a%00b", "%ED%A0%80"):
        r = await client.get(f"/api/v1/portal/audit/events?{param}={value}", headers=H)
        if value == "%ED%A0%80":  # not UTF-8: Starlette decodes it to U+FFFD, which PostgreSQL can hold
            assert r.status_code == 200
            continue
        assert r.status_code == 400, r.text
        assert "contains NUL" in r.json()["error"]


async def test_event_neighbours_on_postgresql(client_factory: ClientFactory, tmp_path: Any, pg_url: str) -> None:
    client = await pg_portal(client_factory, tmp_path, pg_url)
    for code in (500, 404, 503):
        await client.get(f"/v1/status/{code}", headers=H)
        await flush(client)  # one write each, so the write order is the request order
    events = (await client.get("/api/v1/portal/audit/events", headers=H)).json()["events"]
    newest, middle, oldest = (e["id"] for e in events)
    detail = (await client.get(f"/api/v1/portal/audit/events/{middle}", headers=H)).json()
    links = detail["neighbours"]
    assert (links["older"]["id"], links["newer"]["id"]) == (oldest, newest)
    assert links["previous_on_route"]["id"] == oldest and links["original"] is None
    page = await client.get(f"/portal/audit/{middle}", headers=H)
    assert page.status_code == 200 and f"a={oldest}&amp;b={middle}" in page.text
