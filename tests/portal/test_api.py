"""The JSON API over the portal's data functions, against the real SQLite audit store."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.portal.conftest import KEY, flush

H = {"X-API-Key": KEY}
UUID = re.compile(r"^[0-9a-f-]{36}$")


async def traffic(client: httpx.AsyncClient) -> None:
    for path in ("/v1/whoami", "/v1/status/500", "/v1/status/404", "/v1/whoami"):
        await client.get(path, headers=H)
    await client.post("/v1/echo?note=hello", headers=H, json={"secret_word": "swordfish"})
    await client.get("/v1/whoami")  # rejected: no credential, recorded as missing_credential
    await flush(client)


async def test_events_newest_first_with_keyset_pages(portal: httpx.AsyncClient) -> None:
    await traffic(portal)
    first = (await portal.get("/api/v1/portal/audit/events?limit=4", headers=H)).json()
    assert [e["path"] for e in first["events"]] == ["/v1/whoami", "/v1/echo", "/v1/whoami", "/v1/status/404"]
    assert first["total"] == 6 and first["limit"] == 4 and first["next"]
    assert "payload" not in first["events"][0]
    second = (await portal.get(f"/api/v1/portal/audit/events?limit=4&next={first['next']}", headers=H)).json()
    assert [e["path"] for e in second["events"]] == ["/v1/status/500", "/v1/whoami"]
    assert second["next"] is None
    ids = [e["id"] for e in first["events"] + second["events"]]
    assert len(set(ids)) == 6


@pytest.mark.parametrize(
    ("query", "paths"),
    [
        ("status=5xx", ["/v1/status/500"]),
        ("status=404", ["/v1/status/404"]),
        ("success=false&auth_type=apikey", ["/v1/status/404", "/v1/status/500"]),
        ("category=missing_credential", ["/v1/whoami"]),
        ("method=post", ["/v1/echo"]),
        ("q=swordfish", ["/v1/echo"]),
        ("q=HELLO", ["/v1/echo"]),
        ("path=status", ["/v1/status/404", "/v1/status/500"]),
        ("route_name=whoami&caller=tester", ["/v1/whoami", "/v1/whoami"]),
    ],
)
async def test_filters(portal: httpx.AsyncClient, query: str, paths: list[str]) -> None:
    await traffic(portal)
    body = (await portal.get(f"/api/v1/portal/audit/events?{query}", headers=H)).json()
    assert [e["path"] for e in body["events"]] == paths
    assert body["total"] == len(paths)


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("status=abc", "status: use a status code (404) or a class (4xx)"),
        ("limit=0", "limit must be an integer in [1, 500]"),
        ("next=%%%", "next: not a page token from this server"),
    ],
)
async def test_bad_parameters_are_400(portal: httpx.AsyncClient, query: str, error: str) -> None:
    r = await portal.get(f"/api/v1/portal/audit/events?{query}", headers=H)
    assert (r.status_code, r.json()) == (400, {"error": error})


async def test_event_detail_with_payload_curl_and_redaction(portal: httpx.AsyncClient) -> None:
    await traffic(portal)
    events = (await portal.get("/api/v1/portal/audit/events?method=POST", headers=H)).json()["events"]
    detail = (await portal.get(f"/api/v1/portal/audit/events/{events[0]['id']}", headers=H)).json()
    payload = detail["payload"]
    assert payload["request_headers"]["X-Api-Key"] == ["[redacted]"]
    assert json.loads(payload["request_body"]) == {"secret_word": "swordfish"}
    assert payload["request_query"] == {"note": ["hello"]}
    assert KEY not in detail["curl"] and "swordfish" in detail["curl"]
    assert detail["replay"] == {"allowed": True, "refused_because": ""}


@pytest.mark.parametrize(
    ("event_id", "status", "error"),
    [
        ("nope", 400, "event id is not a valid uuid"),
        ("00000000-0000-4000-8000-000000000000", 404, 'event "00000000-0000-4000-8000-000000000000" not found'),
    ],
)
async def test_event_errors(portal: httpx.AsyncClient, event_id: str, status: int, error: str) -> None:
    r = await portal.get(f"/api/v1/portal/audit/events/{event_id}", headers=H)
    assert (r.status_code, r.json()) == (status, {"error": error})


async def test_aggregates_and_dashboard(portal: httpx.AsyncClient) -> None:
    await traffic(portal)
    stats = (await portal.get("/api/v1/portal/audit/stats", headers=H)).json()
    assert (stats["total"], stats["errors"], stats["success"]) == (6, 3, 3)
    assert stats["error_rate"] == 0.5
    series = (await portal.get("/api/v1/portal/audit/timeseries?bucket_seconds=3600", headers=H)).json()
    assert sum(b["count"] for b in series["buckets"]) == 6
    groups = (await portal.get("/api/v1/portal/audit/breakdown?dimension=status_class", headers=H)).json()["groups"]
    assert {g["key"]: g["count"] for g in groups} == {"2xx": 3, "4xx": 2, "5xx": 1}
    r = await portal.get("/api/v1/portal/audit/breakdown?dimension=nope", headers=H)
    assert r.status_code == 400 and r.json()["error"].startswith('unknown dimension "nope"')
    dash = (await portal.get("/api/v1/portal/dashboard", headers=H)).json()
    assert dash["total"] == 6 and dash["success_count"] == 3
    assert len(dash["recent"]) == 6
    assert dash["pipeline"]["enabled"] is True and dash["pipeline"]["written_total"] == 6
    assert {g["key"] for g in dash["top_error_routes"]} == {"status", "whoami"}


async def test_compare(portal: httpx.AsyncClient) -> None:
    await traffic(portal)
    events = (await portal.get("/api/v1/portal/audit/events?route_name=status", headers=H)).json()["events"]
    body = (await portal.get(f"/api/v1/portal/audit/compare?a={events[0]['id']}&b={events[1]['id']}", headers=H)).json()
    status_row = next(r for r in body["overview"] if r["field"] == "status")
    assert status_row == {"field": "status", "a": 404, "b": 500, "same": False}
    assert body["response_body"]["mode"] == "json"
    assert any(r["path"] == "$.status" and r["kind"] == "changed" for r in body["response_body"]["rows"])


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        ("/api/v1/portal/server", {"version", "commit", "date", "config"}),
        (
            "/api/v1/portal/wellknown",
            {"protected_resource_url", "authorization_server", "oidc_enabled", "audience", "api_endpoint"},
        ),
        (
            "/api/v1/portal/discovery",
            {"base_url", "api_endpoint", "auth_modes", "documents", "wellknown_documents", "openapi"},
        ),
        ("/api/v1/portal/config", {"path", "unset_vars", "settings"}),
        ("/api/v1/portal/about", {"version", "database", "uptime_seconds", "commit"}),
        ("/api/v1/portal/endpoints", {"endpoints", "groups"}),
        ("/api/v1/portal/audit/meta", {"filters", "features", "pagination", "count_cap"}),
    ],
)
async def test_documents(portal: httpx.AsyncClient, path: str, keys: set[str]) -> None:
    r = await portal.get(path, headers=H)
    assert r.status_code == 200
    assert keys <= set(r.json())


async def test_server_config_is_masked(portal: httpx.AsyncClient) -> None:
    body = (await portal.get("/api/v1/portal/server", headers=H)).text
    assert KEY not in body and "portal-test-cookie-secret" not in body
    assert '"[redacted]"' in body


async def test_config_rows_carry_their_source(portal: httpx.AsyncClient) -> None:
    rows = {r["key"]: r for r in (await portal.get("/api/v1/portal/config", headers=H)).json()["settings"]}
    assert rows["portal.cookie_secret"]["value"] == "[redacted]"
    assert rows["portal.enabled"]["source"] == "file"
    assert rows["server.read_header_timeout"]["source"] == "default"


async def test_about_reports_the_migration(portal: httpx.AsyncClient) -> None:
    about = (await portal.get("/api/v1/portal/about", headers=H)).json()
    assert about["database"]["backend"] == "sqlite"
    assert about["database"]["revision"] == about["database"]["head_revision"]


async def test_endpoint_lookup(portal: httpx.AsyncClient) -> None:
    body = (await portal.get("/api/v1/portal/endpoints/whoami", headers=H)).json()
    assert (body["method"], body["path"], body["group"]) == ("GET", "/v1/whoami", "identity")
    r = await portal.get("/api/v1/portal/endpoints/nope", headers=H)
    assert (r.status_code, r.json()) == (404, {"error": 'endpoint "nope" not found'})


async def test_audit_disabled_is_503(client_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.portal.conftest import portal_overrides

    client = await client_factory(portal_overrides(tmp_path, {"audit": {"enabled": False}}))
    r = await client.get("/api/v1/portal/audit/events", headers=H)
    assert (r.status_code, r.json()) == (503, {"error": "audit is disabled (audit.enabled is false)"})
    meta = (await client.get("/api/v1/portal/audit/meta", headers=H)).json()
    assert meta["features"]["replay"] is False


async def test_discovery_shows_the_served_wellknown_documents(portal: httpx.AsyncClient) -> None:
    body = (await portal.get("/api/v1/portal/discovery", headers=H)).json()
    served = (await portal.get("/.well-known/oauth-protected-resource")).json()
    assert body["wellknown_documents"] == {"/.well-known/oauth-protected-resource": served}
    assert body["openapi"]["paths"] > 10
    modes = {m["type"]: m for m in body["auth_modes"]}
    assert modes["apikey"]["header"] == "X-API-Key" and modes["bearer"]["tokens"] == ["robot"]
