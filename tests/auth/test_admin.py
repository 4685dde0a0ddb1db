from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from apitest.auth.admin import AdminAuth, parse_expiry
from apitest.http import error_response
from apitest.identity import Identity
from tests.conftest import ClientFactory

ADMIN = {"X-API-Key": "admin-secret"}


def overrides(db_url: str, *, db_keys: bool = True) -> dict[str, Any]:
    return {
        "auth": {"allow_anonymous": True},
        "api_keys": {
            "file": [
                {"name": "admin", "key": "admin-secret", "scopes": ["admin", "read", "write"]},
                {"name": "reader", "key": "reader-secret", "scopes": ["read"]},
            ],
            "db": {"enabled": db_keys},
        },
        "bearer": {
            "tokens": [
                {"name": "ops", "token": "ops-token", "scopes": ["admin"]},
                {"name": "viewer", "token": "viewer-token"},
            ]
        },
        "database": {"url": db_url},
    }


@pytest.fixture
async def client(client_factory: ClientFactory, sqlite_url: str) -> httpx.AsyncClient:
    return await client_factory(overrides(sqlite_url), groups=["identity"])


async def test_create_list_use_revoke(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/admin/keys",
        json={
            "name": "gateway",
            "description": "staging gateway",
            "scopes": ["read"],
            "expires_at": "2999-01-01T00:00:00Z",
        },
        headers=ADMIN,
    )
    assert r.status_code == 201
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    plaintext = body["plaintext"]
    key = body["key"]
    assert plaintext.startswith("at_") and len(plaintext) == 46
    assert key["prefix"] == plaintext[:8]
    assert (key["name"], key["scopes"], key["created_by"], key["expires_at"], key["status"]) == (
        "gateway",
        ["read"],
        "admin",
        "2999-01-01T00:00:00Z",
        "active",
    )
    whoami = await client.get("/v1/whoami", headers={"X-API-Key": plaintext})
    body = whoami.json()
    assert body.pop("credentials")[0]["used"] is True
    assert body == {"subject": "gateway", "auth_type": "apikey", "key_name": "gateway", "scopes": ["read"]}

    listed = (await client.get("/api/v1/admin/keys", headers={"Authorization": "Bearer ops-token"})).json()["keys"]
    assert [k["name"] for k in listed] == ["gateway"]
    assert plaintext not in str(listed)

    assert (await client.delete("/api/v1/admin/keys/gateway", headers=ADMIN)).status_code == 204
    rejected = await client.get("/v1/whoami", headers={"X-API-Key": plaintext})
    assert rejected.status_code == 401
    assert 'error_description="revoked key"' in rejected.headers["www-authenticate"]
    listed = (await client.get("/api/v1/admin/keys", headers=ADMIN)).json()["keys"]
    assert listed[0]["status"] == "revoked" and "revoked_at" in listed[0]
    again = await client.delete("/api/v1/admin/keys/gateway", headers=ADMIN)
    assert (again.status_code, again.json()) == (400, {"error": "api key not found"})


async def test_a_database_key_with_admin_can_manage_keys(client: httpx.AsyncClient) -> None:
    body = {"name": "robot", "scopes": ["admin", "read"]}
    plaintext = (await client.post("/api/v1/admin/keys", json=body, headers=ADMIN)).json()["plaintext"]
    r = await client.post("/api/v1/admin/keys", json={"name": "child"}, headers={"X-API-Key": plaintext})
    assert r.status_code == 201 and r.json()["key"]["created_by"] == "robot"


@pytest.mark.parametrize("headers", [{"X-API-Key": "reader-secret"}, {"Authorization": "Bearer viewer-token"}])
async def test_a_credential_without_admin_cannot_list_create_or_revoke(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    assert (await client.post("/api/v1/admin/keys", json={"name": "victim"}, headers=ADMIN)).status_code == 201
    for method, path, body in (
        ("GET", "/api/v1/admin/keys", None),
        ("POST", "/api/v1/admin/keys", {"name": "mine", "scopes": ["admin", "billing"]}),
        ("DELETE", "/api/v1/admin/keys/victim", None),
    ):
        r = await client.request(method, path, headers=headers, json=body)
        assert r.status_code == 403, (method, r.text)
        assert r.json() == {"error": "insufficient_scope", "required_scope": "admin"}
        assert 'error="insufficient_scope", scope="admin"' in r.headers["www-authenticate"]
    listed = (await client.get("/api/v1/admin/keys", headers=ADMIN)).json()["keys"]
    assert [(k["name"], k["status"]) for k in listed] == [("victim", "active")]


async def test_nobody_grants_a_scope_they_do_not_hold(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/admin/keys", json={"name": "x", "scopes": ["admin", "billing", "root"]}, headers=ADMIN
    )
    assert (r.status_code, r.json()) == (403, {"error": "cannot grant scopes you do not hold: billing, root"})
    bearer = {"Authorization": "Bearer ops-token"}
    r = await client.post("/api/v1/admin/keys", json={"name": "x", "scopes": ["read"]}, headers=bearer)
    assert (r.status_code, r.json()["error"]) == (403, "cannot grant scopes you do not hold: read")
    r = await client.post("/api/v1/admin/keys", json={"name": "x", "scopes": ["read", "write"]}, headers=ADMIN)
    assert r.status_code == 201 and r.json()["key"]["scopes"] == ["read", "write"]


@pytest.mark.parametrize(
    ("name", "source"),
    [("admin", "a file key"), ("reader", "a file key"), ("ops", "a bearer token"), ("viewer", "a bearer token")],
)
async def test_a_name_of_a_configured_key_is_409(client: httpx.AsyncClient, name: str, source: str) -> None:
    r = await client.post("/api/v1/admin/keys", json={"name": name}, headers=ADMIN)
    assert (r.status_code, r.json()) == (409, {"error": f'name "{name}" is already used by {source}'})


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{", 400, "invalid JSON body"),
        (b"[]", 400, "body must be a JSON object"),
        (b"{}", 400, "name required"),
        (b'{"name": "  "}', 400, "name required"),
        (b'{"name": "x", "scopes": "read"}', 400, "scopes: must be a list of strings"),
        (b'{"name": "x", "scopes": ["a b"]}', 400, "scopes: 'a b' is not a valid scope"),
        (b'{"name": "x", "description": 5}', 400, "description: must be a string"),
        (b'{"name": "x", "expires_at": "tomorrow"}', 400, "expires_at: 'tomorrow' is not an RFC 3339 timestamp"),
        (b'{"name": "x", "expires_at": "2030-01-01T00:00:00"}', 400, "expires_at: needs a time zone offset"),
        (b'{"name": "x", "expires_at": 5}', 400, "expires_at: must be an RFC 3339 timestamp string"),
        (b'{"name": "' + b"x" * 9000 + b'"}', 413, "request body exceeds 8192 bytes"),
    ],
)
async def test_create_refuses_bad_bodies(client: httpx.AsyncClient, body: bytes, status: int, error: str) -> None:
    r = await client.post("/api/v1/admin/keys", content=body, headers=ADMIN)
    assert r.status_code == status
    assert r.json()["error"].startswith(error)


async def test_duplicate_name_is_409(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/v1/admin/keys", json={"name": "dup"}, headers=ADMIN)).status_code == 201
    r = await client.post("/api/v1/admin/keys", json={"name": "dup"}, headers=ADMIN)
    assert (r.status_code, r.json()) == (409, {"error": 'name "dup" is already used by a database key'})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
    ],
)
async def test_unauthorized(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for method, path in (
        ("GET", "/api/v1/admin/keys"),
        ("POST", "/api/v1/admin/keys"),
        ("DELETE", "/api/v1/admin/keys/x"),
    ):
        r = await client.request(method, path, headers=headers)
        assert r.status_code == 401, (method, headers)
        assert r.json() == {"error": "unauthorized"}
        assert r.headers["www-authenticate"] == 'Bearer realm="api-test-portal"'


async def test_anonymous_and_query_keys_are_refused(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/whoami")).json()["auth_type"] == "anonymous"  # anonymous is on for /v1 ...
    assert (await client.get("/api/v1/admin/keys")).status_code == 401  # ... never for key management
    assert (await client.get("/api/v1/admin/keys", params={"api_key": "admin-secret"})).status_code == 401


async def test_store_disabled_is_503_after_auth(client_factory: ClientFactory, sqlite_url: str) -> None:
    client = await client_factory(overrides(sqlite_url, db_keys=False), groups=["identity"])
    assert (await client.get("/api/v1/admin/keys")).status_code == 401
    for method, path in (
        ("GET", "/api/v1/admin/keys"),
        ("POST", "/api/v1/admin/keys"),
        ("DELETE", "/api/v1/admin/keys/x"),
    ):
        r = await client.request(method, path, headers=ADMIN, json={"name": "x"})
        assert (r.status_code, r.json()) == (503, {"error": "api keys store not enabled"})


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    r = await client.put("/api/v1/admin/keys", headers=ADMIN)
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, POST"


async def test_extra_checks_run_first() -> None:
    from apitest.auth.chain import build_chain
    from tests.support import make_settings

    seen: list[str] = []

    async def session(request: Request) -> Identity | Response | None:
        seen.append(request.url.path)
        if request.headers.get("cookie") == "session=ok":
            return Identity(subject="portal-user", auth_type="oidc", scopes=("admin",))
        if request.headers.get("cookie") == "session=no-admin":
            return Identity(subject="portal-user", auth_type="oidc")
        if request.headers.get("cookie") == "session=csrf-missing":
            return error_response("csrf token missing", 403)
        return None

    file_keys = [{"name": "admin", "key": "admin-secret", "scopes": ["admin"]}]
    settings = make_settings({"api_keys": {"file": file_keys}})
    auth = AdminAuth(settings, build_chain(settings), extra=[session])

    def request(headers: dict[str, str]) -> Request:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        return Request(
            {"type": "http", "method": "GET", "path": "/api/v1/admin/keys", "headers": raw, "query_string": b""}
        )

    admin = Identity(subject="portal-user", auth_type="oidc", scopes=("admin",))
    assert await auth(request({"cookie": "session=ok"})) == admin
    refused = await auth(request({"cookie": "session=csrf-missing"}))
    assert isinstance(refused, Response) and refused.status_code == 403
    no_admin = await auth(request({"cookie": "session=no-admin"}))
    assert isinstance(no_admin, Response) and no_admin.status_code == 403
    identity = await auth(request({"X-API-Key": "admin-secret"}))
    assert isinstance(identity, Identity) and identity.subject == "admin"
    assert len(seen) == 4


def test_parse_expiry() -> None:
    assert parse_expiry(None) is None
    assert parse_expiry("2030-01-01T00:00:00+02:00").isoformat() == "2030-01-01T00:00:00+02:00"  # type: ignore[union-attr]
    assert parse_expiry("2020-01-01T00:00:00Z") is not None  # in the past: allowed, for expired-key tests


async def test_key_management_is_logged_without_the_key(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    created = await client.post("/api/v1/admin/keys", json={"name": "logged"}, headers=ADMIN)
    plaintext = created.json()["plaintext"]
    assert (await client.delete("/api/v1/admin/keys/logged", headers=ADMIN)).status_code == 204
    records = {r.getMessage(): r for r in caplog.records if r.name == "apitest.auth.admin"}
    assert records["api key created"].key_name == "logged"  # type: ignore[attr-defined]
    assert records["api key created"].prefix == plaintext[:8]  # type: ignore[attr-defined]
    assert records["api key revoked"].key_name == "logged"  # type: ignore[attr-defined]
    assert plaintext not in caplog.text and "admin-secret" not in caplog.text


async def test_a_revocation_on_one_app_reaches_a_second_app_on_the_same_database(
    client_factory: ClientFactory, sqlite_url: str
) -> None:
    import asyncio

    first = await client_factory(overrides(sqlite_url), groups=["identity"])
    second = await client_factory(overrides(sqlite_url), groups=["identity"])  # another worker
    created = await first.post("/api/v1/admin/keys", json={"name": "roaming"}, headers=ADMIN)
    plaintext = created.json()["plaintext"]
    assert (await second.get("/v1/whoami", headers={"X-API-Key": plaintext})).status_code == 200  # at once
    assert (await first.delete("/api/v1/admin/keys/roaming", headers=ADMIN)).status_code == 204
    status = 200
    for _ in range(100):  # the second app's cache check (twice a second); bounded, not a timing assertion
        status = (await second.get("/v1/whoami", headers={"X-API-Key": plaintext})).status_code
        if status == 401:
            break
        await asyncio.sleep(0.05)
    assert status == 401
