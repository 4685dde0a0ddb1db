"""Saved views: per identity, in the database (SQLite, PostgreSQL) or in memory; CSRF on create and delete."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from apitest.db.engine import Database
from apitest.portal.saved_views import (
    MAX_NAME,
    MemorySavedViews,
    SavedViewError,
    SavedViews,
    SQLSavedViews,
    check_name,
)
from tests.portal.conftest import BEARER, csrf_token


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def views_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` for memory, else a migrated database (its fixtures run outside the event loop)."""
    if request.param == "memory":
        return None
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
async def views(views_url: str | None) -> AsyncIterator[SavedViews]:
    if views_url is None:
        yield MemorySavedViews()
        return
    database = Database(views_url)
    try:
        yield SQLSavedViews(database)
    finally:
        await database.dispose()


async def test_views_belong_to_their_owner(views: SavedViews) -> None:
    made = await views.create("apikey:alice", "errors", "status=5xx")
    await views.create("apikey:alice", "Alpha", "")
    await views.create("bearer:robot", "errors", "status=4xx")
    assert [v.name for v in await views.list("apikey:alice")] == ["Alpha", "errors"]
    assert [v.query for v in await views.list("bearer:robot")] == ["status=4xx"]
    with pytest.raises(SavedViewError, match="already"):
        await views.create("apikey:alice", "errors", "status=500")
    assert not await views.delete("bearer:robot", made.id)  # not theirs
    assert await views.delete("apikey:alice", made.id)
    assert [v.name for v in await views.list("apikey:alice")] == ["Alpha"]


@pytest.mark.parametrize(
    ("name", "ok"),
    [("  a   b ", "a b"), ("", None), ("x" * (MAX_NAME + 1), None), ("a\x00b", "a\\x00b"), ("\ud800", "\\ud800")],
)
def test_names(name: str, ok: str | None) -> None:
    if ok is None:
        with pytest.raises(SavedViewError):
            check_name(name)
    else:
        assert check_name(name) == ok


async def test_json_api_and_forms(signed_in: httpx.AsyncClient) -> None:
    page = await signed_in.get("/portal/audit?status=5xx")
    token = csrf_token(page.text)
    # Forms: CSRF required.
    refused = await signed_in.post("/portal/audit/views/save", data={"name": "x", "query": "status=5xx"})
    assert refused.status_code == 403
    saved = await signed_in.post(
        "/portal/audit/views/save", data={"name": "5xx", "query": "status=5XX&bogus=1&q=", "csrf_token": token}
    )
    assert saved.status_code == 303
    listed = (await signed_in.get("/api/v1/portal/audit/views")).json()["views"]
    assert [(v["name"], v["query"]) for v in listed] == [("5xx", "status=5xx")]
    bad = await signed_in.post(
        "/portal/audit/views/save", data={"name": "y", "query": "status=abc", "csrf_token": token}
    )
    assert bad.status_code == 400 and "status" in bad.text
    # JSON: a cookie needs X-CSRF-Token; a key header does not.
    no_token = await signed_in.post("/api/v1/portal/audit/views", json={"name": "j", "query": "method=GET"})
    assert no_token.status_code == 403
    created = await signed_in.post(
        "/api/v1/portal/audit/views", json={"name": "j", "query": "method=GET"}, headers={"X-CSRF-Token": token}
    )
    assert created.status_code == 200 and created.json()["query"] == "method=GET"
    dup = await signed_in.post(
        "/api/v1/portal/audit/views", json={"name": "j", "query": ""}, headers={"X-CSRF-Token": token}
    )
    assert dup.status_code == 409
    robot = {"Authorization": f"Bearer {BEARER}"}
    session, signed_in.cookies = signed_in.cookies, httpx.Cookies()  # the robot has no session cookie
    assert (await signed_in.get("/api/v1/portal/audit/views", headers=robot)).json() == {"views": []}
    signed_in.cookies = session
    gone = await signed_in.delete(f"/api/v1/portal/audit/views/{created.json()['id']}", headers={"X-CSRF-Token": token})
    assert gone.status_code == 200
    again = await signed_in.delete(
        f"/api/v1/portal/audit/views/{created.json()['id']}", headers={"X-CSRF-Token": token}
    )
    assert again.status_code == 404
