"""The hostile-traffic suite: each attack of issue #11 replayed against a real server on 127.0.0.1.

Every module here sets ``pytestmark = pytest.mark.security`` (``make security``; ``make test`` leaves
them out). Servers are uvicorn on an ephemeral port in this process (:class:`tests.support.LiveServer`),
or ``apitest serve`` in a child process where the boot itself is under test. The ``Host`` allow-list is
left at its default (the host of ``server.base_url``, ``localhost``, ``127.0.0.1``, ``[::1]``) unless a
test says otherwise. The audit-integrity tests also run real ``apitest serve`` processes on SQLite and
PostgreSQL, read back the rows they leave, and use a local OIDC provider whose keys the tests hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apitest.audit.records import AuditFilters, Cursor, EventRecord
from apitest.audit.store_sql import SQLAuditStore
from apitest.db.engine import Database
from bench import configs
from bench.procs import ServerProcess
from tests.portal.conftest import KEY, SECRET, csrf_token
from tests.support import LiveServer, deep_merge, free_port, make_app

READER_KEY = "security-reader-key-0123456789"  # a read-only file key
VIEWER_TOKEN = "security-viewer-token-0123456789"  # a read-only bearer token
ADMIN_TOKEN = "security-admin-token-0123456789"  # a bearer token with the admin scope


def security_overrides(tmp_path: Path, port: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    base: dict[str, Any] = {
        "auth": {"allow_anonymous": False},
        "api_keys": {
            "file": [
                {"name": "tester", "key": KEY, "scopes": ["read", "write", "admin"]},
                {"name": "reader", "key": READER_KEY, "scopes": ["read"]},
            ],
            "db": {"enabled": True},
        },
        "bearer": {
            "tokens": [
                {"name": "viewer", "token": VIEWER_TOKEN, "scopes": ["read"]},
                {"name": "ops", "token": ADMIN_TOKEN, "scopes": ["admin"]},
            ]
        },
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path}/security.db"},
        "audit": {"enabled": True, "flush_interval_ms": 10},
        "portal": {"enabled": True, "cookie_secret": SECRET, "allowed_hosts": []},
        "server": {"base_url": f"http://127.0.0.1:{port}"},
    }
    return deep_merge(base, extra or {})


@contextlib.contextmanager
def running(tmp_path: Path, extra: dict[str, Any] | None = None) -> Iterator[LiveServer]:
    """The fixture with the portal, an SQLite audit log and database keys, on 127.0.0.1:<ephemeral>."""
    port = free_port()
    server = LiveServer(make_app(security_overrides(tmp_path, port, extra)))
    server.port = server.config.port = port
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server per module (tests use their own key names); each test gets a fresh client."""
    with running(tmp_path_factory.mktemp("security")) as live:
        yield live


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def sign_in(client: httpx.Client, key: str = KEY, return_to: str = "") -> httpx.Response:
    page = client.get("/portal/login")
    return client.post("/portal/login", data={"api_key": key, "csrf_token": csrf_token(page.text), "return": return_to})


def cookie_header(client: httpx.Client) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items())}


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


# The local OIDC provider of the auth tests (discovery + JWKS with keys the tests hold), shared.
from tests.auth.conftest import idp, idp_server  # noqa: E402, F401


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
