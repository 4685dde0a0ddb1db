"""The free-text indexes (migrations 0012 and 0015): kept by the store's writes, used by searches without a window."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from apitest.audit.filter_registry import conditions
from apitest.audit.records import AuditFilters, EventRecord, PayloadRecord
from apitest.audit.search import SEARCH_INDEXES, create_index, escape_encoding, rebuild_sqlite
from apitest.audit.sql_filters import EVENTS, source
from apitest.audit.store_sql import SQLAuditStore
from apitest.db.engine import Database, alembic_config, upgrade
from tests.audit.conftest import T0, event
from tests.dbsupport import scratch_database


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SQLAuditStore]:
    database = Database(db_url)
    try:
        yield SQLAuditStore(database)
    finally:
        await database.dispose()


def dataset() -> list[EventRecord]:
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


def kinds() -> list[EventRecord]:
    """One event per kind of searched field, and pairs of fields whose meeting point is no match."""
    p = PayloadRecord
    return [
        event(0, request_id="path", path="/v1/kinds/path-mark"),
        event(1, request_id="error", status=500, error_message="upstream error-mark"),
        event(2, request_id="reqhdr", payload=p(request_headers={"X-Mark": ["reqhdr-mark"]})),
        event(3, request_id="query", payload=p(request_query={"m": ["query-mark"]})),
        event(4, request_id="resphdr", payload=p(response_headers={"X-Out": ["resphdr-mark"]})),
        event(5, request_id="reqbody", payload=p(request_body=b"\x01\x02reqbody-mark")),
        event(6, request_id="respbody", payload=p(response_body=b'{"r": "respbody-mark"}')),
        event(7, request_id="utf8", payload=p(request_body="body caf\u00e9-mark".encode())),
        event(8, request_id="utf8hdr", payload=p(request_headers={"X-Mark": ["\u00fcber-mark"]})),
        event(9, request_id="backslash", payload=p(response_body=b"C:\\dir\\file")),
        event(10, request_id="eventpair", path="/v1/edge-left", status=500, error_message="right-edge"),
        event(11, request_id="hdrpair", payload=p(request_headers={"X-A": ["left"]}, request_query={"b": ["right"]})),
        event(12, request_id="bodypair", payload=p(request_body=b"body-left", response_body=b"body-right")),
        event(13, request_id="inbody", payload=p(request_body=b"inner-left\ninner-right")),
    ]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("path-mark", "path"),
        ("ERROR-MARK", "error"),
        ("reqhdr-mark", "reqhdr"),
        ("query-mark", "query"),
        ("RESPHDR-mark", "resphdr"),
        ("reqbody-mark", "reqbody"),
        ("respbody-mark", "respbody"),
        ("caf\u00e9-mark", "utf8"),  # a body's raw bytes: its escape text shows \303\251
        ("\u00e9-m", "utf8"),
        ("\u00e9", "utf8"),  # shorter than a trigram
        ("\u00fcber-mark", "utf8hdr"),  # JSON text keeps non-ASCII as it is
        ("dir\\file", "backslash"),  # escape text doubles a backslash: found as raw bytes
        ("inner-left\ninner-right", "inbody"),  # a newline inside one field is part of it
        ("edge-left\nright-edge", ""),  # path, then the error message: two fields
        ('left"]}\n{"b', ""),  # request headers, then the query
        ("body-left\nbody-right", ""),  # request body, then response body
        ("-mark\n", ""),
    ],
)
async def test_each_field_is_found_and_no_match_spans_two(store: SQLAuditStore, q: str, expected: str) -> None:
    await store.append_many(kinds())
    for window in (False, True):
        filters = AuditFilters(q=q, since=T0, until=T0 + timedelta(minutes=1)) if window else AuditFilters(q=q)
        page = await store.list_page(filters, None, 100)
        assert ",".join(sorted(e.request_id or "" for e in page.events)) == expected, window


@pytest.mark.integration
@pytest.mark.parametrize("q", ["query-needle", "needle-path", "caf\u00e9-needle", "dir\\file"])
async def test_postgres_searches_through_one_trigram_index_per_table(pg_url: str, q: str) -> None:
    database = Database(pg_url)
    try:
        store = SQLAuditStore(database)
        await store.append_many(dataset())
        filters = AuditFilters(q=q)
        stmt = select(EVENTS.c.id).select_from(source(filters)).where(*conditions(filters, "postgresql"))
        sql = str(stmt.compile(database.engine.sync_engine, compile_kwargs={"literal_binds": True}))
        async with database.engine.begin() as conn:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(str(r[0]) for r in await conn.execute(text("EXPLAIN " + sql)))
        assert "audit_events_search_trgm" in plan and "audit_payloads_search_trgm" in plan
        assert "Seq Scan" not in plan
    finally:
        await database.dispose()


@pytest.mark.integration
async def test_postgres_path_contains_goes_through_the_events_index(pg_url: str) -> None:
    database = Database(pg_url)
    try:
        store = SQLAuditStore(database)
        await store.append_many(dataset())
        filters = AuditFilters(path_contains="needle-pa")
        stmt = select(EVENTS.c.id).select_from(source(filters)).where(*conditions(filters, "postgresql"))
        sql = str(stmt.compile(database.engine.sync_engine, compile_kwargs={"literal_binds": True}))
        async with database.engine.begin() as conn:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(str(r[0]) for r in await conn.execute(text("EXPLAIN " + sql)))
        assert "audit_events_search_trgm" in plan and "Seq Scan" not in plan
        found = {e.path for e in (await store.list_page(filters, None, 100)).events}
        assert found and all("needle-pa" in p.lower() for p in found)
        assert found == {e.path for e in dataset() if "needle-pa" in e.path.lower()}
    finally:
        await database.dispose()


@pytest.mark.integration
async def test_escape_encoding_is_postgres_encode(pg_url: str) -> None:
    data = bytes(range(256)) + "caf\u00e9 \\ end".encode()
    conn = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        assert await conn.fetchval("SELECT encode($1::bytea, 'escape')", data) == escape_encoding(data)
    finally:
        await conn.close()


def test_docs_give_the_statements_the_migration_runs() -> None:
    """What a superuser runs after adding pg_trgm by hand must be the very expressions the search uses."""
    docs = " ".join((Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text(encoding="utf-8").split())
    for name in SEARCH_INDEXES:
        assert create_index(name) + ";" in docs


async def _trgm_indexes(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%\\_trgm'")
        return {r["indexname"]: r["indexdef"] for r in rows}
    finally:
        await conn.close()


@pytest.mark.integration
def test_postgres_migrations_replace_the_seven_indexes_and_back(pg_url: str) -> None:
    config = alembic_config(pg_url)
    per_field = ScriptDirectory.from_config(config).get_revision("0012_audit_search").module.INDEXES
    with scratch_database(pg_url.replace("+asyncpg", "")) as url:
        plain = url.replace("+asyncpg", "")
        upgrade(url, "0014_audit_duration_index")
        assert set(asyncio.run(_trgm_indexes(plain))) == set(per_field)
        asyncio.run(_fill(url))  # rows to index when 0015 builds its indexes
        upgrade(url)
        combined = asyncio.run(_trgm_indexes(plain))
        assert set(combined) == set(SEARCH_INDEXES)
        assert "COALESCE(encode(response_body, 'escape'::text), ''::text)" in combined["audit_payloads_search_trgm"]
        assert asyncio.run(_found(url, "query-needle")) == "d"
        command.downgrade(alembic_config(url), "0014_audit_duration_index")
        assert set(asyncio.run(_trgm_indexes(plain))) == set(per_field)
        assert asyncio.run(_found(url, "query-needle")) == "d"
        upgrade(url)
        assert asyncio.run(_trgm_indexes(plain)) == combined


async def _fill(url: str) -> None:
    database = Database(url)
    try:
        await SQLAuditStore(database).append_many(dataset())
    finally:
        await database.dispose()


async def _found(url: str, q: str) -> str:
    database = Database(url)
    try:
        return await found(SQLAuditStore(database), q)
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
        warnings = [r.getMessage() for r in caplog.records if "pg_trgm is not available" in r.getMessage()]
        assert len(warnings) == 2 and "not installed" in warnings[1]  # 0012, then 0015 on its own
        database = Database(url)
        try:
            async with database.engine.connect() as conn:
                names = {r[0] for r in await conn.execute(text("SELECT indexname FROM pg_indexes"))}
            assert not [n for n in names if n.endswith("_trgm")]
            store = SQLAuditStore(database)
            await store.append_many(dataset())
            assert await found(store, "query-needle") == "d"
        finally:
            await database.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{name}"')
        await admin.close()
