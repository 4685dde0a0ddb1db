"""How many events match the audit list's filters, without making the page slow.

The list shows "N matching", counted up to :data:`COUNT_CAP` ("1,000+"). A cap bounds the number,
not the work: a filter that matches few rows of a big table (a rare caller, text in the path) makes
the database read every row to find out. On PostgreSQL the count therefore runs beside the page query
with a statement timeout; past it the total is reported as unknown (``null``) rather than delaying the
page. Free text (``q``) is not counted there at all: matching it means reading every payload in range,
which would double the page's own work. SQLite (the embedded, small-log default) and the in-memory
store count directly.
"""

from __future__ import annotations

from sqlalchemy import func, literal, select, text
from sqlalchemy.exc import DBAPIError

from apitest.audit.filter_registry import conditions
from apitest.audit.records import AuditFilters, AuditStore
from apitest.audit.sql_filters import source
from apitest.audit.store_sql import SQLAuditStore

COUNT_CAP = 1_000
BUDGET_MS = 50


def _timed_out(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(getattr(exc.orig, "__cause__", None), "sqlstate", None)
    return code == "57014" or "statement timeout" in str(exc)  # query_canceled


async def bounded_count(store: AuditStore, filters: AuditFilters, cap: int = COUNT_CAP) -> int | None:
    """Matching rows up to ``cap``; ``None`` when PostgreSQL could not count them within :data:`BUDGET_MS`."""
    if not isinstance(store, SQLAuditStore) or store.dialect != "postgresql":
        return await store.count(filters, cap=cap)
    if filters.q:
        return None  # free text reads every payload in range: counting would double the page's work
    # Selecting a constant (not a column) lets PostgreSQL answer from an index alone where one covers the filter.
    rows = source(filters)  # the store's own FROM and predicates, so this counts exactly what list_page pages
    matching = select(literal(1)).select_from(rows).where(*conditions(filters, store.dialect)).limit(cap).subquery()
    stmt = select(func.count()).select_from(matching)
    try:
        async with store.engine.begin() as conn:
            await conn.execute(text(f"SET LOCAL statement_timeout = {BUDGET_MS}"))
            return int((await conn.execute(stmt)).scalar_one())
    except DBAPIError as exc:
        if _timed_out(exc):
            return None
        raise
