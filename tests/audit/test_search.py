"""The free-text indexes of migration 0012: kept by the store's writes, used by searches without a window."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from sqlalchemy import text

from apitest.audit.records import AuditFilters, PayloadRecord
from apitest.audit.search import TRGM_INDEXES, rebuild_sqlite
from apitest.audit.store_sql import SQLAuditStore
from apitest.db.engine import Database, upgrade
from tests.audit.conftest import T0, event


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SQLAuditStore]:
    database = Database(db_url)
    try:
        yield SQLAuditStore(database)
    finally:
        await database.dispose()


def dataset() -> list:
    p = PayloadRecord
    return [
        event(0, request_id="a", path="/v1/orders/needle-path"),
        event(10, request_id="b", status=500, error_message="upstream Needle-Error"),
        event(20, request_id="c", payload=p(request_headers={"X-Trace": ["hdr-needle"]})),
        event(30, request_id="d", payload=p(request_query={"q": ["query-needle"]})),
        event(40, request_id="e", payload=p(request_body=b"\x00\x01binary", response_body=b'{"found": "resp-needle"}')),
        event(50, request_id="f", payload=p(request_body=b"head \x00 tail-needle")),
        event(60, request_id="g", path="/v1/nothing"),
    ]


async def found(store: SQLAuditStore, q: str, *, window: bool = False) -> str:
    filters = AuditFilters(q=q, since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1)) if window else None
    page = await store.list_page(filters or AuditFilters(q=q), None, 100)
    return "".join(sorted(e.request_id or "" for e in page.events))


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("NEEDLE-path", "a"),
        ("needle-error", "b"),
        ("hdr-needle", "c"),
        ("query-needle", "d"),
        ("resp-needle", "e"),  # the request body's NUL does not hide the response body
        ("needle", "abcde" + "f"),
        ("absent-anywhere", ""),
        ("ne", "abcdef"),  # shorter than a trigram: the rows are read
    ],
)
async def test_free_text_without_a_window(store: SQLAuditStore, q: str, expected: str) -> None:
    await store.append_many(dataset())
    got = await found(store, q)
    if store.dialect == "sqlite" and q in ("needle",):
        # SQLite text ends at a NUL: the index misses text after a body's first NUL byte (documented) ...
        assert got == expected.replace("f", "")
        assert await found(store, q, window=True) == expected  # ... and a search with a window finds it
    else:
        assert got == expected
    assert await found(store, q, window=True) == expected


async def test_sqlite_keeps_the_search_table_with_the_events(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    try:
        store = SQLAuditStore(database)
        await store.append_many(dataset())

        async def documents() -> int:
            async with database.engine.connect() as conn:
                return int((await conn.execute(text("SELECT count(*) FROM audit_search"))).scalar_one())

        assert await documents() == len(dataset())
        await store.delete_older_than(T0 + timedelta(seconds=25))  # retention
        assert await documents() == len(dataset()) - 3 and await found(store, "hdr-needle") == ""
        assert await found(store, "query-needle") == "d"
        async with database.engine.begin() as conn:
            await conn.run_sync(rebuild_sqlite)  # what to run after a VACUUM
        assert await documents() == len(dataset()) - 3 and await found(store, "query-needle") == "d"
        async with database.engine.connect() as conn:
            plan = " ".join(
                str(r[-1])
                for r in await conn.execute(
                    text("EXPLAIN QUERY PLAN SELECT rowid FROM audit_search WHERE audit_search MATCH '\"needle\"'")
                )
            )
        assert "VIRTUAL TABLE INDEX" in plan
    finally:
        await database.dispose()


@pytest.mark.integration
async def test_postgres_searches_through_the_trigram_indexes(pg_url: str) -> None:
    database = Database(pg_url)
    try:
        store = SQLAuditStore(database)
        await store.append_many(dataset())
        from sqlalchemy import select

        from apitest.audit.filter_registry import conditions
        from apitest.audit.sql_filters import EVENTS, source

        filters = AuditFilters(q="query-needle")
        stmt = select(EVENTS.c.id).select_from(source(filters)).where(*conditions(filters, "postgresql"))
        sql = str(stmt.compile(database.engine.sync_engine, compile_kwargs={"literal_binds": True}))
        async with database.engine.begin() as conn:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(str(r[0]) for r in await conn.execute(text("EXPLAIN " + sql)))
        assert "audit_events_path_trgm" in plan and "audit_payloads_request_query_trgm" in plan
    finally:
        await database.dispose()


def _with(url: str, *, user: str | None = None, db: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc if user is None else f"{user}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{db}" if db else parts.path))


@pytest.mark.integration
async def test_without_pg_trgm_the_migration_warns_and_search_still_works(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"apitest_noext_{secrets.token_hex(3)}"
    admin_url = pg_url.replace("+asyncpg", "")
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE ROLE "{name}" LOGIN')
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.execute(f'REVOKE CREATE ON DATABASE "{name}" FROM PUBLIC')
        inside = await asyncpg.connect(_with(admin_url, db=name))
        try:
            await inside.execute(f'ALTER SCHEMA public OWNER TO "{name}"')
        finally:
            await inside.close()
        url = _with(pg_url, user=name, db=name)
        caplog.set_level(logging.WARNING, logger="apitest.db")
        await asyncio.to_thread(upgrade, url)
        assert any("pg_trgm is not available" in r.getMessage() for r in caplog.records)
        database = Database(url)
        try:
            async with database.engine.connect() as conn:
                names = {r[0] for r in await conn.execute(text("SELECT indexname FROM pg_indexes"))}
            assert not names & set(TRGM_INDEXES)
            store = SQLAuditStore(database)
            await store.append_many(dataset())
            assert await found(store, "query-needle") == "d"
        finally:
            await database.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{name}"')
        await admin.close()
