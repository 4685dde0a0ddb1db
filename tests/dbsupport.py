"""Find a PostgreSQL server for the integration suite and give each run its own database.

Order: ``APITEST_TEST_DATABASE_URL``; testcontainers ``postgres:16-alpine`` when a Docker engine answers;
a server on localhost:5432 (user ``postgres``). The run creates ``apitest_test_<random>`` there and drops it
at the end. Only when none is reachable do the integration tests skip, saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


async def _can_connect(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=3)
    except Exception:
        return False
    await conn.close()
    return True


def _docker_works() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0  # noqa: S603,S607
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def server_url() -> Iterator[str | None]:
    """A URL of a Postgres server whose user may create databases, or None."""
    configured = os.environ.get("APITEST_TEST_DATABASE_URL")
    if configured:
        yield configured.replace("+asyncpg", "")
        return
    if _docker_works():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", username="api", password="api", dbname="apitest") as pg:
            yield pg.get_connection_url(driver=None)
        return
    yield LOCAL_URL if asyncio.run(_can_connect(LOCAL_URL)) else None


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """Create a fresh database on ``server``; yield its asyncpg SQLAlchemy URL; drop it afterwards."""
    name = f"apitest_test_{secrets.token_hex(4)}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield _with_db(server, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


TABLES = (
    "audit_payloads",
    "audit_events",
    "audit_rollup_minute",
    "api_keys",
    "idempotency_keys",
    "rate_limit_counters",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_subscriptions",
    "webhook_cursor",
    "install_secrets",
)


async def truncate_all(url: str) -> None:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
    finally:
        await conn.close()
