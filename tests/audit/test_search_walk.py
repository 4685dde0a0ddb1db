"""Free text, newest rows first (apitest.audit.search_walk): exactly the plain query's rows, with or without a
time window.

The steps are shrunk to a few rows so a small data set crosses every region boundary: the first step, the
second, and the indexed rest, with several rows sharing one ``ts`` at the boundaries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, tuple_

from apitest.audit import search_walk
from apitest.audit.filter_registry import conditions
from apitest.audit.records import AuditFilters, Cursor, PayloadRecord
from apitest.audit.sql_filters import EVENTS, E, source
from apitest.audit.store_sql import SQLAuditStore, event_from
from apitest.db.engine import Database
from tests.audit.conftest import T0, event


@pytest.fixture
async def store(db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SQLAuditStore]:
    monkeypatch.setattr(search_walk, "STEPS", (4, 9))
    database = Database(db_url)
    try:
        store = SQLAuditStore(database)
        await store.append_many(dataset())
        yield store
    finally:
        await database.dispose()


def dataset() -> list[Any]:
    """60 events; every third pair shares a timestamp. Terms by how often they occur: ``common`` (one in two),
    ``sometimes`` (one in nine), ``rare`` (twice, far back), ``tail-needle`` (after a NUL byte only)."""
    rows = []
    for i in range(60):
        offset = (i // 2) * 10 if i % 6 < 2 else i * 5  # pairs with equal ts
        payload = PayloadRecord(
            request_headers={"X-Tag": ["common" if i % 2 else "plain"]},
            request_body=b"head \x00 tail-needle" if i == 7 else f'{{"n": {i}}}'.encode(),
            response_body=b'{"note": "rare"}' if i in (3, 11) else b"{}",
        )
        rows.append(
            event(
                offset,
                request_id=f"r{i}",
                path=f"/v1/items/{'sometimes' if i % 9 == 0 else 'x'}",
                status=500 if i % 4 == 0 else 200,
                method="POST" if i % 3 == 0 else "GET",
                payload=payload,
            )
        )
    return rows


async def plain_page(store: SQLAuditStore, filters: AuditFilters, after: Cursor | None, limit: int) -> list[str]:
    """The query every search ran before the walk: the filters' conditions, newest first, one page."""
    stmt = select(*EVENTS.c).select_from(source(filters)).where(*conditions(filters, store.dialect))
    if after is not None:
        stmt = stmt.where(tuple_(E.ts, E.id) < tuple_(after.ts, after.id))
    stmt = stmt.order_by(E.ts.desc(), E.id.desc()).limit(limit)
    async with store.engine.connect() as conn:
        return [event_from(r).id for r in (await conn.execute(stmt)).mappings().all()]


async def every_page(store: SQLAuditStore, filters: AuditFilters, limit: int) -> list[list[str]]:
    pages, after = [], None
    while True:
        page = await store.list_page(filters, after, limit)
        assert [e.id for e in page.events] == await plain_page(store, filters, after, limit)
        pages.append([e.id for e in page.events])
        if page.next is None:
            return pages
        after = page.next
        assert len(pages) < 100


@pytest.mark.parametrize("q", ["common", "sometimes", "rare", "tail-needle", "absent-anywhere", "co", "NEEDLE"])
@pytest.mark.parametrize("limit", [1, 3, 50])
async def test_the_walk_pages_exactly_like_the_plain_query(store: SQLAuditStore, q: str, limit: int) -> None:
    filters = AuditFilters(q=q)
    assert search_walk.walkable(filters, store.dialect)
    pages = await every_page(store, filters, limit)
    everything = await plain_page(store, filters, None, 1000)
    assert [i for page in pages for i in page] == everything  # no row twice, none missed, across pages


WINDOWS = [
    (T0 + timedelta(seconds=40), None),
    (None, T0 + timedelta(seconds=200)),
    (T0 + timedelta(seconds=20), T0 + timedelta(seconds=150)),
    (T0 + timedelta(seconds=100), T0 + timedelta(seconds=100)),  # one timestamp, shared by a pair
]


@pytest.mark.parametrize(("since", "until"), WINDOWS)
@pytest.mark.parametrize("q", ["common", "sometimes", "rare", "tail-needle", "absent-anywhere"])
@pytest.mark.parametrize("limit", [1, 3])
async def test_a_windowed_search_pages_exactly_like_the_plain_query(
    store: SQLAuditStore, since: datetime | None, until: datetime | None, q: str, limit: int
) -> None:
    filters = AuditFilters(q=q, since=since, until=until)
    assert search_walk.walkable(filters, store.dialect) == (store.dialect == "postgresql")
    pages = await every_page(store, filters, limit)
    assert [i for page in pages for i in page] == await plain_page(store, filters, None, 1000)
    assert await store.count(filters, cap=1000) == len(await plain_page(store, filters, None, 1000))


async def test_the_regions_of_a_window_are_counted_within_it(store: SQLAuditStore) -> None:
    """The first step reads the window's newest rows, not the table's: a window in the past still finds a
    common term's page in the first step."""
    filters = AuditFilters(q="common", until=T0 + timedelta(seconds=100))
    async with store.engine.connect() as conn:
        regions = [
            where async for where in search_walk.regions(conn, filters, store.dialect, None, search_walk.Tally(1))
        ]
        stmt = select(EVENTS.c.id).select_from(source(filters)).where(*regions[0])
        first = (await conn.execute(stmt)).all()
    assert first, "the first region holds the window's newest rows"


@pytest.mark.parametrize(
    "filters",
    [
        AuditFilters(q="common", status=500),
        AuditFilters(q="common", method="POST"),
        AuditFilters(q="sometimes", status_class=5),
        AuditFilters(q="rare", method="GET"),
        AuditFilters(q="items", path_contains="sometimes"),
    ],
)
async def test_combined_filters_page_like_the_plain_query(store: SQLAuditStore, filters: AuditFilters) -> None:
    pages = await every_page(store, filters, 2)
    assert [i for page in pages for i in page] == await plain_page(store, filters, None, 1000)


@pytest.mark.parametrize("q", ["common", "sometimes", "rare", "absent-anywhere", "co"])
@pytest.mark.parametrize("cap", [0, 1, 5, 1000])
async def test_the_count_stops_at_the_cap(store: SQLAuditStore, q: str, cap: int) -> None:
    filters = AuditFilters(q=q)
    matching = select(E.id).select_from(source(filters)).where(*conditions(filters, store.dialect)).subquery()
    async with store.engine.connect() as conn:
        total = int((await conn.execute(select(func.count()).select_from(matching))).scalar_one())
    assert await store.count(filters, cap=cap) == min(cap, total)


async def test_a_rare_term_reaches_the_indexed_rest(store: SQLAuditStore) -> None:
    filters = AuditFilters(q="rare")
    async with store.engine.connect() as conn:
        tally, regions = search_walk.Tally(3), []
        async for where in search_walk.regions(conn, filters, store.dialect, None, tally):
            regions.append(where)
            tally.found = 1  # one in the first 4 rows: the next 9 would bring the 2 missing
    assert len(regions) == 3  # both steps, then everything older through the indexes
    assert len(await plain_page(store, filters, None, 1000)) == 2


async def test_too_few_matches_in_the_first_step_skip_the_second(store: SQLAuditStore) -> None:
    async with store.engine.connect() as conn:
        tally = search_walk.Tally(50)
        regions = []
        async for where in search_walk.regions(conn, AuditFilters(q="rare"), store.dialect, None, tally):
            regions.append(where)
            tally.found = 1  # one in the first 4 rows: 9 more rows would not bring 49
    assert len(regions) == 2  # the first step, then the indexed rest


def test_the_second_step_is_read_when_the_rate_would_fill_the_page() -> None:
    assert search_walk.Tally(51).worth_reading(0, 1000)
    assert search_walk.Tally(51, found=5).worth_reading(1000, 10_000)  # 50 projected for 46 missing
    assert not search_walk.Tally(51, found=4).worth_reading(1000, 10_000)  # 40 for 47
    assert not search_walk.Tally(51, found=0).worth_reading(1000, 10_000)


def test_free_text_newest_first_walks_with_a_window_on_postgresql_only() -> None:
    since, until = AuditFilters(q="x", since=T0), AuditFilters(q="x", until=T0)
    for dialect in ("sqlite", "postgresql"):
        assert not search_walk.walkable(AuditFilters(), dialect)
        assert not search_walk.walkable(AuditFilters(q="x", sort="duration"), dialect)
        assert search_walk.walkable(AuditFilters(q="x"), dialect)
    assert search_walk.walkable(since, "postgresql") and search_walk.walkable(until, "postgresql")
    assert not search_walk.walkable(since, "sqlite") and not search_walk.walkable(until, "sqlite")
