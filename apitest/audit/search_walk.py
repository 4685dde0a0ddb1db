"""Free text, newest first: the newest rows are read before the search indexes are asked.

The list shows the newest page of matches. Through the search indexes the database finds every match of the
whole table and only then sorts them to keep the newest page: cheap for a rare term, seconds for a term
found in one row in seven (hundreds of thousands of matches over a million rows). Reading the rows newest
first and checking each one stops as soon as the page is full: cheap for a common term, a read of the whole
table for a rare one. This module does both, in turn:

1. the newest :data:`STEPS` ``[0]`` rows (below the page's cursor), each checked on its own;
2. then the next :data:`STEPS` ``[1]`` rows the same way, when the matches found so far, at the rate they came,
   would fill the page within them (else reading them is wasted work: a rare term goes straight to 3);
3. then everything older, through the indexes (:func:`apitest.audit.sql_filters.text_search`), which by then
   only runs for a term rare enough that fewer than a page of its matches were among those rows.

Each region is a range of ``ts`` bounded by the ``ts`` of the row just past it in ``(ts DESC, id DESC)``
order (an index-only read of that many index entries), so the regions are disjoint, cover every row, and the
matches of region after region, each in ``(ts DESC, id DESC)`` order, are exactly the plain query's rows in
its order: same page, same ``next`` cursor. The free-text condition of steps 1 and 2 is
:func:`apitest.audit.sql_filters.row_search`, which matches the same rows as the index path on each backend
(on SQLite it still asks FTS5, for the slice of ``rowid`` s the region holds).

For free text with the list's default order: without a time window on both backends, and with one on
PostgreSQL, where a window of a day over a busy table still holds hundreds of thousands of rows (a term in one
row in seven took seconds through the index, 2026-12-03). The regions are then counted within the window. On
SQLite a windowed search checks the window's rows as before (the FTS5 index misses text after a NUL byte, which
a windowed search still finds).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column, select, tuple_
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from apitest.audit.filter_registry import conditions
from apitest.audit.records import AuditFilters, Cursor
from apitest.audit.sql_filters import EVENTS, E, row_search, source

STEPS = (1_000, 10_000)  # rows read newest first, each checked on its own, before the indexes are asked
NEWEST_FIRST = (E.ts.desc(), E.id.desc())
ROWID: ColumnElement[int] = literal_column("audit_events.rowid")


def walkable(filters: AuditFilters, dialect: str) -> bool:
    """Free text, newest first, without a time window (or with one, on PostgreSQL): what :func:`newest` serves."""
    windowed = filters.since is not None or filters.until is not None
    return bool(filters.q) and filters.sort != "duration" and (not windowed or dialect == "postgresql")


@dataclass
class Tally:
    """What the reader of :func:`regions` wants and has found so far (it updates ``found``)."""

    want: int
    found: int = 0

    def worth_reading(self, read: int, size: int) -> bool:
        """Whether ``size`` more rows, at the rate matches came in the ``read`` rows so far, would fill the page."""
        return read == 0 or self.found * size >= (self.want - self.found) * read


async def regions(
    conn: AsyncConnection, filters: AuditFilters, dialect: str, after: Cursor | None, tally: Tally
) -> AsyncIterator[list[ColumnElement[bool]]]:
    """The conditions of ``filters`` (free text included) for each region in turn, newest first, below ``after``."""
    assert filters.q
    others = conditions(replace(filters, q=None), dialect)
    above = [tuple_(E.ts, E.id) < tuple_(after.ts, after.id)] if after is not None else []
    window = [E.ts >= filters.since] if filters.since is not None else []  # the regions count rows within it
    window += [E.ts <= filters.until] if filters.until is not None else []
    read = 0
    for size in STEPS:
        if not tally.worth_reading(read, size):
            break
        read += size
        edge = select(E.ts).select_from(EVENTS).where(*above, *window).order_by(*NEWEST_FIRST).offset(size).limit(1)
        boundary = (await conn.execute(edge)).scalar()
        region = [*above, E.ts > boundary] if boundary is not None else above
        rowids: tuple[int, int] | None = None
        if dialect == "sqlite":
            lo, hi = (
                await conn.execute(select(func.min(ROWID), func.max(ROWID)).select_from(EVENTS).where(*region))
            ).one()
            rowids = (int(lo), int(hi)) if lo is not None else None
        if dialect != "sqlite" or rowids is not None:
            yield [*others, row_search(filters.q, dialect, rowids), *region]
        if boundary is None:
            return
        above = [*above, E.ts <= boundary]
    yield [*conditions(filters, dialect), *above]


async def newest(
    conn: AsyncConnection, filters: AuditFilters, dialect: str, after: Cursor | None, want: int
) -> list[RowMapping]:
    """The newest ``want`` matches of ``filters`` below ``after``, newest first (the plain query's rows)."""
    rows: list[RowMapping] = []
    tally = Tally(want)
    async for where in regions(conn, filters, dialect, after, tally):
        stmt: Select[Any] = select(*EVENTS.c).select_from(source(filters)).where(*where)
        stmt = stmt.order_by(*NEWEST_FIRST).limit(want - len(rows))
        rows += (await conn.execute(stmt)).mappings().all()
        tally.found = len(rows)
        if len(rows) >= want:
            break
    return rows


async def count(conn: AsyncConnection, filters: AuditFilters, dialect: str, cap: int) -> int:
    """Matches of ``filters``, counted up to ``cap`` region by region (stops once ``cap`` is reached)."""
    total = 0
    if cap <= 0:
        return 0
    tally = Tally(cap)
    async for where in regions(conn, filters, dialect, None, tally):
        matching = select(E.id).select_from(source(filters)).where(*where).limit(cap - total).subquery()
        total += int((await conn.execute(select(func.count()).select_from(matching))).scalar_one())
        tally.found = total
        if total >= cap:
            break
    return total
