"""The inbound chain end to end, against a real uvicorn server on 127.0.0.1: the integration auth matrix
of the original (§6) plus an attack matrix. Every refusal must be a 401 whose challenge says why."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from apitest.app import create_app
from apitest.audit.records import AuditFilters, EventRecord
from apitest.audit.store_sql import SQLAuditStore
from apitest.db.engine import Database, upgrade
from tests.auth.idp import LocalIdP, hs256_with_public_key, unsigned
from tests.support import live_server, make_settings

FILE_KEY = "integration-api-key-secret"
ADMIN_KEY = "integration-admin-key-secret"  # manages database keys (the admin scope)
BEARER = "integration-bearer-token-secret"
BASE_URL = "http://api-test.local:8080"
RESOURCE = f'resource_metadata="{BASE_URL}/.well-known/oauth-protected-resource"'
MISSING = f'Bearer realm="api-test", {RESOURCE}'
FOREIGN_KEY = RSAKey.generate_key(2048, parameters={"kid": "foreign-1"})


def invalid(description: str) -> str:
    return f'Bearer realm="api-test", error="invalid_token", error_description="{description}", {RESOURCE}'


def config(issuer: str, db_url: str, *, anonymous: bool = False) -> dict[str, Any]:
    return {
        "server": {"base_url": BASE_URL},
        "auth": {"allow_anonymous": anonymous},
        "api_keys": {
            "file": [
                {"name": "intkey", "key": FILE_KEY},
                {"name": "operator", "key": ADMIN_KEY, "scopes": ["admin", "read", "write"]},
            ],
            "db": {"enabled": True},
        },
        "bearer": {"tokens": [{"name": "intbearer", "token": BEARER, "scopes": ["read"]}]},
        "oidc": {
            "enabled": True,
            "issuer": issuer,
            "audience": "api-test",
            "allowed_clients": ["plexara-cc", "plexara-ac"],
            "jwks_cache_ttl": "1h",
        },
        "database": {"url": db_url},
    }


@dataclass
class Server:
    url: str
    keys: dict[str, str]  # database key plaintexts: active, revoked, expired


def create_key(client: httpx.Client, name: str, **fields: Any) -> str:
    r = client.post("/api/v1/admin/keys", json={"name": name, **fields}, headers={"X-API-Key": ADMIN_KEY})
    assert r.status_code == 201, r.text
    return str(r.json()["plaintext"])


@pytest.fixture(scope="module")
def server(idp_server: LocalIdP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    idp_server.reset()
    db_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('chain')}/apitest.db"
    upgrade(db_url)
    app = create_app(make_settings(config(idp_server.issuer, db_url), groups=["identity"]))
    with live_server(app) as live, httpx.Client(base_url=live.url) as client:
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        keys = {
            "active": create_key(client, "dbkey", scopes=["read", "write"]),
            "revoked": create_key(client, "revokedkey"),
            "expired": create_key(client, "expiredkey", expires_at=past),
        }
        assert client.delete("/api/v1/admin/keys/revokedkey", headers={"X-API-Key": ADMIN_KEY}).status_code == 204
        yield Server(live.url, keys)


Request = Callable[[LocalIdP, Server], dict[str, Any]]


def bearer(token: str) -> dict[str, Any]:
    return {"headers": {"Authorization": f"Bearer {token}"}}


AUTH_MATRIX: list[tuple[str, Request, int, dict[str, Any] | str]] = [
    ("no credential", lambda idp, s: {}, 401, MISSING),
    ("wrong key", lambda idp, s: {"headers": {"X-API-Key": "nope"}}, 401, invalid("unknown key")),
    (
        "header key",
        lambda idp, s: {"headers": {"X-API-Key": FILE_KEY}},
        200,
        {"subject": "intkey", "auth_type": "apikey", "key_name": "intkey"},
    ),
    (
        "query key",
        lambda idp, s: {"params": {"api_key": FILE_KEY}},
        200,
        {"subject": "intkey", "auth_type": "apikey", "key_name": "intkey"},
    ),
    (
        "header wins over query",
        lambda idp, s: {"headers": {"X-API-Key": "wrong"}, "params": {"api_key": FILE_KEY}},
        401,
        invalid("unknown key"),
    ),
    (
        "bearer",
        lambda idp, s: bearer(BEARER),
        200,
        {"subject": "intbearer", "auth_type": "bearer", "key_name": "intbearer", "scopes": ["read"]},
    ),
    ("wrong bearer", lambda idp, s: bearer("abc123"), 401, invalid("unknown token")),
    (
        "database key",
        lambda idp, s: {"headers": {"X-API-Key": s.keys["active"]}},
        200,
        {"subject": "dbkey", "auth_type": "apikey", "key_name": "dbkey", "scopes": ["read", "write"]},
    ),
    ("jwt", lambda idp, s: bearer(idp.mint()), 200, "oidc"),
    ("es256 jwt", lambda idp, s: bearer(idp.mint(alg="ES256")), 200, "oidc"),
    (
        "foreign-issuer jwt",
        lambda idp, s: bearer(idp.mint(idp.claims(iss="https://foreign.example"), key=FOREIGN_KEY)),
        401,
        invalid("unknown signing key"),
    ),
    # As in the original, an Authorization scheme other than Bearer is no credential at all.
    ("basic auth is no credential", lambda idp, s: {"headers": {"Authorization": "Basic dTpw"}}, 401, MISSING),
    ("empty bearer is no credential", lambda idp, s: {"headers": {"Authorization": "Bearer"}}, 401, MISSING),
]


def check(response: httpx.Response, status: int, expected: dict[str, Any] | str, idp: LocalIdP) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.content.endswith(b"\n")
    if status == 200:
        body = response.json()
        assert list(body)[-1] == "credentials"
        credentials = body.pop("credentials")  # the evidence: exactly one credential won (tests/audit/test_wire.py)
        assert [c["used"] for c in credentials].count(True) == 1 and all(c["valid"] for c in credentials if c["used"])
        if expected == "oidc":
            claims = body.pop("claims")
            assert claims["iss"] == idp.issuer and claims["sub"] == "alice"
            expected = {
                "subject": "alice",
                "email": "alice@example.com",
                "auth_type": "oidc",
                "key_name": "alice",
                "scopes": ["openid", "read"],
            }
        assert body == expected
        return
    assert response.headers["www-authenticate"] == expected
    missing = expected == MISSING
    assert response.json() == {"error": "missing credential" if missing else "invalid credential"}


@pytest.mark.parametrize(("case", "request_for", "status", "expected"), AUTH_MATRIX, ids=[c[0] for c in AUTH_MATRIX])
def test_auth_matrix(
    server: Server, idp: LocalIdP, case: str, request_for: Request, status: int, expected: dict[str, Any] | str
) -> None:
    response = httpx.get(server.url + "/v1/whoami", **request_for(idp, server))
    check(response, status, expected, idp)


def _tampered(idp: LocalIdP) -> str:
    header, _, signature = idp.mint().split(".")
    forged = unsigned({}, idp.claims(sub="root", scope="admin")).split(".")[1]
    return f"{header}.{forged}.{signature}"


def _oversized(idp: LocalIdP) -> str:
    return idp.mint(idp.claims(padding="x" * 9000))


def _bad_base64(idp: LocalIdP) -> str:
    header, _, signature = idp.mint().split(".")
    return f"{header}.eyJzdWIiOi!!!.{signature}"


def _hs256(idp: LocalIdP) -> str:
    return hs256_with_public_key(idp.rsa.as_pem(private=False), idp.claims(), "rsa-1")


def _now(offset: int) -> int:
    return int(datetime.now(UTC).timestamp()) + offset


ATTACKS: list[tuple[str, Callable[[LocalIdP, Server], dict[str, Any]], str]] = [
    ("alg none", lambda idp, s: bearer(unsigned({"alg": "none", "typ": "JWT"}, idp.claims())), "unsupported algorithm"),
    ("hs256 signed with the public key", lambda idp, s: bearer(_hs256(idp)), "unsupported algorithm"),
    ("tampered payload", lambda idp, s: bearer(_tampered(idp)), "bad signature"),
    (
        "signature from another key",
        lambda idp, s: bearer(idp.mint(key=FOREIGN_KEY, header={"kid": "rsa-1"})),
        "bad signature",
    ),
    ("expired", lambda idp, s: bearer(idp.mint(idp.claims(exp=_now(-120)))), "expired token"),
    ("future nbf", lambda idp, s: bearer(idp.mint(idp.claims(nbf=_now(600)))), "not yet valid"),
    ("no exp", lambda idp, s: bearer(idp.mint(idp.claims(exp=None))), "missing exp"),
    ("wrong iss", lambda idp, s: bearer(idp.mint(idp.claims(iss=idp.issuer + "/other"))), "wrong issuer"),
    ("wrong aud", lambda idp, s: bearer(idp.mint(idp.claims(aud="another-api"))), "wrong audience"),
    ("client not allowed", lambda idp, s: bearer(idp.mint(idp.claims(azp="rogue-client"))), "client not allowed"),
    ("unknown kid", lambda idp, s: bearer(idp.mint(header={"kid": "no-such-kid"})), "unknown signing key"),
    ("oversized token", lambda idp, s: bearer(_oversized(idp)), "token too large"),
    ("bad base64", lambda idp, s: bearer(_bad_base64(idp)), "malformed token"),
    ("jwt in the api key header", lambda idp, s: {"headers": {"X-API-Key": idp.mint()}}, "unknown key"),
    ("revoked database key", lambda idp, s: {"headers": {"X-API-Key": s.keys["revoked"]}}, "revoked key"),
    ("expired database key", lambda idp, s: {"params": {"api_key": s.keys["expired"]}}, "expired key"),
    ("unknown database key", lambda idp, s: {"headers": {"X-API-Key": "at_" + "A" * 43}}, "unknown key"),
    (
        "bad key beside a good bearer",
        lambda idp, s: {"headers": {"X-API-Key": "x", "Authorization": f"Bearer {BEARER}"}},
        "unknown key",
    ),
]


@pytest.mark.parametrize(("case", "request_for", "description"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack_matrix(server: Server, idp: LocalIdP, case: str, request_for: Request, description: str) -> None:
    response = httpx.get(server.url + "/v1/whoami", **request_for(idp, server))
    check(response, 401, invalid(description), idp)


def test_bad_credentials_never_fall_back_to_anonymous(idp: LocalIdP, tmp_path: Any) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/a.db"
    app = create_app(make_settings(config(idp.issuer, db_url, anonymous=True), groups=["identity"]))
    with live_server(app) as live:
        anonymous = httpx.get(live.url + "/v1/whoami")
        nobody = {"subject": "", "auth_type": "anonymous", "credentials": []}
        assert (anonymous.status_code, anonymous.json()) == (200, nobody)
        basic = httpx.get(live.url + "/v1/whoami", headers={"Authorization": "Basic dTpw"})
        assert basic.json() == nobody  # as in the original: no credential
        for request in (
            {"headers": {"X-API-Key": "wrong"}},
            {"params": {"api_key": "wrong"}},
            bearer("wrong"),
            bearer(idp.mint(idp.claims(exp=_now(-3600)))),
            bearer(unsigned({"alg": "none"}, idp.claims())),
        ):
            response = httpx.get(live.url + "/v1/whoami", **request)
            assert response.status_code == 401, request
            assert response.json() == {"error": "invalid credential"}


async def test_key_rotation_refreshes_the_jwks_once(idp: LocalIdP, tmp_path: Any) -> None:
    app = create_app(make_settings(config(idp.issuer, f"sqlite+aiosqlite:///{tmp_path}/a.db"), groups=["identity"]))
    with live_server(app) as live:
        async with httpx.AsyncClient(base_url=live.url) as client:
            assert (await client.get("/v1/whoami", **bearer(idp.mint()))).status_code == 200
            fetched = idp.jwks_hits
            rotated = idp.rotate()
            idp.jwks_delay = 0.2  # keep the refresh in flight while the others arrive
            token = idp.mint(key=rotated)
            responses = await asyncio.gather(*(client.get("/v1/whoami", **bearer(token)) for _ in range(20)))
            assert [r.status_code for r in responses] == [200] * 20
            assert idp.jwks_hits == fetched + 1  # twenty concurrent misses, one fetch
            assert (await client.get("/v1/whoami", **bearer(idp.mint()))).status_code == 200  # old key still served


def test_backend_failure_is_a_500_auth_error(idp: LocalIdP, tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    db_file = tmp_path / "a.db"
    app = create_app(make_settings(config(idp.issuer, f"sqlite+aiosqlite:///{db_file}"), groups=["identity"]))
    with live_server(app) as live:
        with contextlib.closing(sqlite3.connect(db_file)) as db:  # the store's table is gone: every lookup fails
            db.execute("DROP TABLE api_keys")
            db.commit()
        response = httpx.get(live.url + "/v1/whoami", headers={"X-API-Key": "at_" + "B" * 43})
        assert response.status_code == 500
        assert response.json() == {"error": "auth error"}
        assert "www-authenticate" not in response.headers
        assert httpx.get(live.url + "/v1/whoami", headers={"X-API-Key": FILE_KEY}).status_code == 200
    errors = [r for r in caplog.records if r.getMessage() == "auth chain error"]
    assert errors and "api key store" in errors[0].err  # type: ignore[attr-defined]
    assert "B" * 43 not in caplog.text


async def _audit_rows(db_url: str, expected: int) -> list[EventRecord]:
    database = Database(db_url)
    try:
        store = SQLAuditStore(database)
        for _ in range(100):  # the writer flushes every 50 ms; poll for up to 5 s
            if await store.count(AuditFilters(path_contains="/v1/")) >= expected:
                break
            await asyncio.sleep(0.05)
        page = await store.list_page(AuditFilters(path_contains="/v1/"), None, limit=100)
        return list(page.events)
    finally:
        await database.dispose()


async def test_outcomes_reach_the_audit_with_reasons_and_never_the_credential(idp: LocalIdP, tmp_path: Any) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/a.db"
    overrides = config(idp.issuer, db_url)
    overrides["audit"] = {"enabled": True, "flush_interval_ms": 50}
    app = create_app(make_settings(overrides, groups=["identity"]))
    expired_token = idp.mint(idp.claims(exp=_now(-3600)))
    with live_server(app) as live:
        async with httpx.AsyncClient(base_url=live.url) as client:
            created = await client.post("/api/v1/admin/keys", json={"name": "gone"}, headers={"X-API-Key": ADMIN_KEY})
            revoked_key = created.json()["plaintext"]
            await client.delete("/api/v1/admin/keys/gone", headers={"X-API-Key": ADMIN_KEY})
            calls = [
                ("/v1/whoami", bearer(expired_token)["headers"], 401),
                ("/v1/whoami", {"X-API-Key": revoked_key}, 401),
                ("/v1/whoami", bearer(BEARER)["headers"], 200),
            ]
            for path, headers, status in calls:
                assert (await client.get(path, headers=headers)).status_code == status
        rows = await _audit_rows(db_url, len(calls))
    assert len(rows) == len(calls)
    rejected = sorted((r.error_category or "", r.error_message or "") for r in rows if r.status == 401)
    assert [c for c, _ in rejected] == ["invalid_credential", "invalid_credential"]
    assert rejected[0][1].startswith("expired token (expired at ")
    assert rejected[1][1].startswith(f"revoked key (database key {revoked_key[:8]}… ('gone') was revoked at ")
    assert all(r.auth_type is None and not r.success for r in rows if r.status == 401)
    allowed = next(r for r in rows if r.status == 200)
    assert (allowed.success, allowed.error_category, allowed.auth_type, allowed.api_key_name) == (
        True,
        None,
        "bearer",
        "intbearer",
    )
    everything = " ".join(r.error_message or "" for r in rows)
    for secret in (revoked_key, expired_token, BEARER, FILE_KEY):
        assert secret not in everything
