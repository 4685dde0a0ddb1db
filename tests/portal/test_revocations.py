"""Portal sessions end on the server: sign-out, and the key they were signed in with being revoked,
expired, replaced or removed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from apitest.db.engine import Database
from apitest.db.models import ApiKey, utcnow
from apitest.portal.revocations import MemoryRevokedSessions, RevokedSessions, SQLRevokedSessions
from tests.portal.conftest import KEY, sign_in

ADMIN = {"X-API-Key": KEY}


@pytest.fixture(params=["memory", "sql"])
async def store(request: pytest.FixtureRequest, sqlite_url: str) -> Any:
    if request.param == "memory":
        yield MemoryRevokedSessions()
        return
    database = Database(sqlite_url)
    try:
        yield SQLRevokedSessions(database)
    finally:
        await database.dispose()


async def test_revoked_until_the_cookie_would_expire(store: RevokedSessions) -> None:
    assert not await store.is_revoked("a")
    await store.revoke("a", utcnow() + timedelta(hours=1))
    await store.revoke("a", utcnow() + timedelta(hours=1))  # twice (two tabs) is fine
    await store.revoke("old", utcnow() - timedelta(seconds=1))
    assert await store.is_revoked("a")
    assert not await store.is_revoked("b")
    assert not await store.is_revoked("old")  # past its expiry the cookie is refused anyway


async def test_sign_out_ends_the_session_on_the_server(signed_in: httpx.AsyncClient) -> None:
    stolen = dict(signed_in.cookies)
    token = _csrf(await signed_in.get("/portal/"))
    r = await signed_in.post("/portal/logout", data={"csrf_token": token})
    assert r.status_code == 303
    signed_in.cookies.clear()
    signed_in.cookies.update(stolen)  # a copy of the cookie taken before sign-out
    page = await signed_in.get("/portal/audit")
    assert page.status_code == 303 and "reason=ended" in page.headers["location"]
    signed_in.cookies.clear()
    cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in stolen.items())}
    assert (await signed_in.get("/api/v1/portal/me", headers=cookie)).status_code == 401


async def _db_key_session(portal: httpx.AsyncClient, name: str, scopes: list[str] | None = None) -> dict[str, str]:
    created = await portal.post("/api/v1/admin/keys", json={"name": name, "scopes": scopes or []}, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert (await sign_in(portal, created.json()["plaintext"])).status_code == 303
    assert (await portal.get("/api/v1/portal/me")).json()["subject"] == name
    cookies = "; ".join(f"{k}={v}" for k, v in portal.cookies.items())
    portal.cookies.clear()
    return {"Cookie": cookies}


async def test_revoking_the_key_ends_its_sessions(portal: httpx.AsyncClient) -> None:
    session = await _db_key_session(portal, "short-lived")
    assert (await portal.delete("/api/v1/admin/keys/short-lived", headers=ADMIN)).status_code == 204
    assert (await portal.get("/api/v1/portal/me", headers=session)).status_code == 401


async def test_a_replacement_key_of_the_same_name_does_not_revive_them(portal: httpx.AsyncClient) -> None:
    session = await _db_key_session(portal, "rotated")
    assert (await portal.delete("/api/v1/admin/keys/rotated", headers=ADMIN)).status_code == 204
    assert (await portal.post("/api/v1/admin/keys", json={"name": "rotated"}, headers=ADMIN)).status_code == 201
    assert (await portal.get("/api/v1/portal/me", headers=session)).status_code == 401


async def test_an_expired_key_ends_its_sessions(portal: httpx.AsyncClient) -> None:
    session = await _db_key_session(portal, "expiring")
    database = portal.app.state.database  # type: ignore[attr-defined]
    async with database.sessions.begin() as db:
        await db.execute(update(ApiKey).where(ApiKey.name == "expiring").values(expires_at=utcnow()))
    assert (await portal.get("/api/v1/portal/me", headers=session)).status_code == 401


async def test_other_sessions_of_the_key_live_on(portal: httpx.AsyncClient) -> None:
    first = await _db_key_session(portal, "shared")
    plaintext_session = first
    assert (await portal.get("/api/v1/portal/me", headers=plaintext_session)).status_code == 200
    assert (await sign_in(portal)).status_code == 303
    token = _csrf(await portal.get("/portal/"))
    assert (await portal.post("/portal/logout", data={"csrf_token": token})).status_code == 303
    portal.cookies.clear()
    assert (await portal.get("/api/v1/portal/me", headers=plaintext_session)).status_code == 200


def _csrf(page: httpx.Response) -> str:
    from tests.portal.conftest import csrf_token

    return csrf_token(page.text)
