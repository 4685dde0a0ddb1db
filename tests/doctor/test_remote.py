"""apitest doctor against a database and a running server (real ones, on loopback)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.doctor.support import diagnose_config, find
from tests.support import free_port, live_server, make_app


async def test_sqlite_migrated_passes(tmp_path: Path, sqlite_url: str) -> None:
    _, results, code = await diagnose_config(tmp_path, {"database": {"url": sqlite_url}, "audit": {"enabled": True}})
    assert [r.status for r in find(results, "database")] == ["pass"]
    assert [r.status for r in find(results, "database.migrations")] == ["pass"]
    assert code == 0


@pytest.mark.parametrize(("migrate_on_boot", "status"), [(True, "warn"), (False, "fail")])
async def test_unmigrated_database(tmp_path: Path, migrate_on_boot: bool, status: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/fresh.db"
    _, results, _ = await diagnose_config(
        tmp_path, {"database": {"url": url, "migrate_on_boot": migrate_on_boot}, "audit": {"enabled": True}}
    )
    (migrations,) = find(results, "database.migrations")
    assert migrations.status == status
    assert "schema at nothing" in migrations.message
    assert "apitest migrate --config" in migrations.fix


async def test_database_from_a_newer_version(tmp_path: Path, sqlite_url: str) -> None:
    path = sqlite_url.split(":///", 1)[1]
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'zz_from_the_future'")
    _, results, code = await diagnose_config(tmp_path, {"database": {"url": sqlite_url}})
    (migrations,) = find(results, "database.migrations")
    assert migrations.status == "fail" and "zz_from_the_future" in migrations.message
    assert code == 1


async def test_unreachable_postgres_fails_without_leaking_the_password(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://api:s3cret-pw@127.0.0.1:{free_port()}/apitest"
    ctx, results, code = await diagnose_config(tmp_path, {"database": {"url": url}, "audit": {"enabled": True}})
    (db,) = find(results, "database")
    assert db.status == "fail" and "database unreachable" in db.message
    assert "start the database" in db.fix
    assert code == 1
    from apitest.doctor.core import render_json, render_text

    assert "s3cret-pw" not in render_text(ctx, results) + render_json(ctx, results)


@pytest.mark.integration
async def test_postgres_reachable_and_missing_database(tmp_path: Path, pg_url: str) -> None:
    _, results, _ = await diagnose_config(tmp_path, {"database": {"url": pg_url}})
    assert [r.status for r in find(results, "database")] == ["pass"]
    assert [r.status for r in find(results, "database.migrations")] == ["pass"]
    missing = pg_url.rsplit("/", 1)[0] + "/apitest_doctor_no_such_db"
    _, results, _ = await diagnose_config(tmp_path, {"database": {"url": missing}})
    (db,) = find(results, "database")
    assert db.status == "fail" and "create the database" in db.fix


async def test_running_server_healthy(tmp_path: Path, sqlite_url: str) -> None:
    app = make_app({"database": {"url": sqlite_url}, "audit": {"enabled": True}})
    with live_server(app) as server:
        async with httpx.AsyncClient() as client:
            await client.get(f"{server.url}/v1/whoami")
        _, results, code = await diagnose_config(
            tmp_path, {"database": {"url": sqlite_url}, "audit": {"enabled": True}}, url=server.url
        )
    assert [r.status for r in find(results, "server.healthz")] == ["pass"]
    assert [r.status for r in find(results, "server.readyz")] == ["pass"]
    (drops,) = find(results, "audit.drops")
    assert drops.status == "pass" and "no audit events dropped" in drops.message
    assert code == 0


async def test_server_not_reachable(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    _, results, code = await diagnose_config(tmp_path, {}, url=url)
    (health,) = find(results, "server.healthz")
    assert health.status == "fail" and "/healthz failed" in health.message
    assert code == 1


async def test_audit_drops_are_reported_from_metrics(tmp_path: Path, sqlite_url: str) -> None:
    """Break the audit table under a running server: writes fail, the tiny buffer fills, events drop."""
    overrides = {"database": {"url": sqlite_url}, "audit": {"enabled": True, "buffer_size": 2, "batch_size": 1}}
    app = make_app(overrides)
    with live_server(app) as server:
        with sqlite3.connect(sqlite_url.split(":///", 1)[1]) as conn:
            conn.execute("ALTER TABLE audit_events RENAME TO audit_events_gone")
        async with httpx.AsyncClient(base_url=server.url) as client:
            for _ in range(20):
                assert (await client.get("/v1/whoami")).status_code == 200  # requests never wait on the audit
        deadline = time.monotonic() + 10
        while True:
            _, results, code = await diagnose_config(tmp_path, overrides, url=server.url)
            (drops,) = find(results, "audit.drops")
            if drops.status == "fail" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        with sqlite3.connect(sqlite_url.split(":///", 1)[1]) as conn:
            conn.execute("ALTER TABLE audit_events_gone RENAME TO audit_events")  # lets the drain finish
    assert drops.status == "fail", drops
    assert "dropped" in drops.message and "audit.buffer_size" in drops.fix
    assert code == 1


async def test_metrics_behind_auth_needs_the_key(tmp_path: Path) -> None:
    overrides = {"metrics": {"require_auth": True}}
    app = make_app({**overrides, "api_keys": {"file": [{"name": "ops", "key": "doctor-test-key-0123456789"}]}})
    with live_server(app) as server:
        _, results, _ = await diagnose_config(tmp_path, overrides, url=server.url)
        assert find(results, "audit.drops")[0].status == "warn"
        _, results, _ = await diagnose_config(tmp_path, overrides, url=server.url, key="doctor-test-key-0123456789")
        assert find(results, "audit.drops")[0].status == "pass"
