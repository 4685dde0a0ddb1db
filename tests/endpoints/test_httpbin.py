"""The httpbin group as a whole: switchable, under /v1 with no clash, resolvable for the audit, audited."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from apitest.db.engine import upgrade
from apitest.endpoints import ROUTES_BY_GROUP
from apitest.endpoints.httpbin import ROUTES
from tests.conftest import ClientFactory


def test_every_route_is_under_v1_in_the_group_and_clashes_with_no_other_group() -> None:
    assert all(r.path.startswith("/v1/") and r.group == "httpbin" for r in ROUTES)
    ours = {(r.method, r.path) for r in ROUTES}
    others = {(r.method, r.path) for g, routes in ROUTES_BY_GROUP.items() if g != "httpbin" for r in routes}
    assert not ours & others
    other_paths = {r.path for g, routes in ROUTES_BY_GROUP.items() if g != "httpbin" for r in routes}
    assert not {r.path for r in ROUTES} & other_paths, "only new paths: existing ones keep their semantics"


async def test_the_group_is_switchable(client_factory: ClientFactory) -> None:
    off = await client_factory(groups=["identity"])
    assert (await off.get("/v1/anything")).status_code == 404
    assert "/v1/anything" not in off.app.state.services.openapi.data["paths"]  # type: ignore[attr-defined]
    on = await client_factory(groups=["httpbin"])
    assert (await on.get("/v1/anything")).status_code == 200
    assert "/v1/anything/{path}" in on.app.state.services.openapi.data["paths"]  # type: ignore[attr-defined]


def audit_rows(db: Path) -> list[tuple[str, int, str | None]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return list(conn.execute("SELECT route_name, status, details FROM audit_events ORDER BY route_name"))


@pytest.fixture
def audit_db(tmp_path: Path) -> Path:
    db = tmp_path / "audit.db"
    upgrade(f"sqlite+aiosqlite:///{db}")
    return db


async def test_requests_are_audited_with_their_route_and_the_ignored_scheme(
    client_factory: ClientFactory, audit_db: Path
) -> None:
    db = audit_db
    client = await client_factory(
        {"audit": {"enabled": True}, "database": {"url": f"sqlite+aiosqlite:///{db}"}}, groups=["httpbin"]
    )
    await client.get("/v1/anything/x/y")
    await client.get("/v1/basic-auth/u/p", auth=("u", "p"))
    await client.get("/v1/range/10", headers={"Range": "bytes=50-"})
    for _ in range(100):
        rows = audit_rows(db)
        if len(rows) >= 3:
            break
        await asyncio.sleep(0.05)
    assert [(name, status) for name, status, _ in rows] == [
        ("httpbin_anything_path_get", 200),
        ("httpbin_basic_auth", 200),
        ("httpbin_range", 416),
    ]  # sorted by route name
    assert json.loads(rows[1][2]) == {"authorization_ignored": "Basic"}
