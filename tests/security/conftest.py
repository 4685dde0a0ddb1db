"""Fixtures of the hostile-traffic suite (``make security``): real ``apitest serve`` processes on loopback,
the audit rows they leave, and a local OIDC provider whose keys the tests hold."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from apitest.audit.records import AuditFilters, Cursor, EventRecord
from apitest.audit.store_sql import SQLAuditStore
from apitest.db.engine import Database
from bench import configs
from bench.procs import ServerProcess, free_port
from tests.auth.idp import LocalIdP

APITEST = [sys.executable, "-m", "apitest.cli"]  # this checkout, whatever the venv's editable install points at
ROOT = Path(__file__).resolve().parents[2]

ServerFactory = Callable[..., ServerProcess]


@pytest.fixture
def apitest_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start ``apitest serve`` (bench-style profile plus ``extra``); each is stopped by pid at teardown."""
    started: list[ServerProcess] = []

    def factory(name: str = "apitest", *, env: dict[str, str] | None = None, **options: Any) -> ServerProcess:
        port = free_port()
        config = configs.apitest_config(tmp_path / f"{name}.yaml", port=port, **options)
        server = ServerProcess(
            name,
            [*APITEST, "serve", "--config", str(config)],
            port,
            log_path=tmp_path / f"{name}.log",
            cwd=str(ROOT),
            env=env,
        )
        started.append(server)
        return server.start()

    yield factory
    for server in started:
        with contextlib.suppress(Exception):
            server.stop(timeout=20)


@pytest.fixture(scope="session")
def idp_server() -> Iterator[LocalIdP]:
    provider = LocalIdP().start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def idp(idp_server: LocalIdP) -> LocalIdP:
    idp_server.reset()
    return idp_server


@pytest.fixture(params=["sqlite", "postgres"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty audit database: an SQLite file the server migrates, or the run's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/audit.db"
    return str(request.getfixturevalue("pg_url"))


def log_records(server: ServerProcess) -> list[dict[str, Any]]:
    out = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, dict):
                out.append(value)
    return out


async def _all_rows(url: str, with_payloads: bool) -> list[EventRecord]:
    database = Database(url)
    store = SQLAuditStore(database)
    try:
        rows: list[EventRecord] = []
        after: Cursor | None = None
        while True:
            page = await store.list_page(AuditFilters(), after, limit=1000)
            rows += page.events
            if page.next is None:
                break
            after = page.next
        if with_payloads:
            rows = [r for r in [await store.get(r.id) for r in rows] if r is not None]
        return rows
    finally:
        await database.dispose()


def audit_rows(url: str, *, with_payloads: bool = False) -> list[EventRecord]:
    """Every audit row of the database, read back through the store (each one decoded, payloads optional)."""
    return asyncio.run(_all_rows(url, with_payloads))
