from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from apitest.audit.search import SEARCH_INDEXES
from apitest.db.engine import Database, DatabaseError, head_revision, normalize_url, sqlite_json, sqlite_path
from apitest.db.models import Base


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql://u@h/db?sslmode=disable", "postgresql+asyncpg://u@h/db?ssl=disable"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_sqlite_path() -> None:
    assert sqlite_path("sqlite+aiosqlite:///data/x.db") == "data/x.db"
    assert sqlite_path("sqlite+aiosqlite:////abs/x.db") == "/abs/x.db"
    assert sqlite_path("sqlite+aiosqlite:///:memory:") is None
    assert sqlite_path("postgresql+asyncpg://h/db") is None


def _diff(conn: Connection) -> list[object]:
    """Table and column differences (index expressions such as ``ts DESC`` are compared by name below)."""
    diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    return [d for d in diffs if not (isinstance(d, tuple) and d[0] in ("add_index", "remove_index")) and not _search(d)]


def _search(diff: object) -> bool:
    """SQLite's FTS5 search table and its shadow tables are not models (apitest.audit.search)."""
    return isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name.startswith("audit_search")


def _index_names(conn: Connection) -> set[str]:
    inspector = inspect(conn)
    return {ix["name"] for table in Base.metadata.tables for ix in inspector.get_indexes(table) if ix["name"]}


async def test_migrations_match_models(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert await db.revision() == head_revision()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            found = await conn.run_sync(_index_names)
        expected: set[str | None] = {ix.name for table in Base.metadata.tables.values() for ix in table.indexes}
        if db.dialect == "postgresql":
            expected |= {"audit_payloads_request_headers_gin", "audit_payloads_response_headers_gin"}
            expected |= set(SEARCH_INDEXES)
        assert found == expected
    finally:
        await db.dispose()


async def test_migrate_creates_sqlite_file(tmp_path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/nested/dir/a.db")
    await db.migrate()
    assert (tmp_path / "nested/dir/a.db").exists()
    assert await db.revision() == head_revision()
    await db.migrate()  # idempotent
    await db.dispose()


async def test_unreachable_database_is_a_clear_error() -> None:
    db = Database("postgresql+asyncpg://nobody:secretpw@127.0.0.1:1/none")
    with pytest.raises(DatabaseError) as err:
        await db.ping()
    assert "database: connect" in str(err.value)
    assert "secretpw" not in str(err.value)
    await db.dispose()


def test_sqlite_json_keeps_non_ascii_text_and_escapes_what_utf8_cannot_hold() -> None:
    assert sqlite_json({"X-Mark": ["\u00fcber"]}) == '{"X-Mark": ["\u00fcber"]}'
    assert sqlite_json({"h": ["\udc80"]}) == '{"h": ["\\udc80"]}'  # a lone surrogate: escaped, as json.dumps does
