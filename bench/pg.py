"""Scratch PostgreSQL databases for the bench on the local server (never the server itself: it is shared).

``APITEST_BENCH_DATABASE_URL`` (a server URL whose user may create databases) overrides the default
``postgresql://postgres@127.0.0.1:5432/postgres``. Each scenario gets ``apitest_bench_<hex>``, dropped after.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    return os.environ.get("APITEST_BENCH_DATABASE_URL", DEFAULT_SERVER).replace("+asyncpg", "")


def with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def asyncpg_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(server_url(), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def available() -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(server_url(), timeout=3)
        except Exception:
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


@contextlib.contextmanager
def scratch_database(label: str) -> Iterator[str]:
    """Create ``apitest_bench_<label>_<hex>``; yield its ``postgresql+asyncpg://`` URL; drop it afterwards."""
    name = f"apitest_bench_{label}_{secrets.token_hex(3)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield with_db(server_url(), name).replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def kept_database(name: str) -> str:
    """``name``'s ``postgresql+asyncpg://`` URL, creating the database when missing; never dropped here."""

    async def ensure() -> None:
        conn = await asyncpg.connect(server_url(), timeout=10)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(ensure())
    return with_db(server_url(), name).replace("postgresql://", "postgresql+asyncpg://", 1)


async def fetchval(url: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(asyncpg_url(url), timeout=10)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def count_rows(url: str, sql: str, *args: object) -> int:
    value = asyncio.run(fetchval(url, sql, *args))
    return int(str(value))
