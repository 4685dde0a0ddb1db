"""The dashboard's rollup answers exactly what scanning the rows answers (percentiles: within a bucket)."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, insert, select

from apitest.audit import rollups
from apitest.audit.records import AuditFilters, EventRecord
from apitest.audit.rollups import (
    LATENCY_MAX,
    LATENCY_MIN,
    ROLLUP,
    Cover,
    _cover,
    latency_bucket,
    latency_ceiling,
    latency_range,
    latency_value,
)
from apitest.audit.sql_filters import EVENTS
from apitest.audit.store_sql import SQLAuditStore, event_row
from apitest.db.engine import Database, alembic_config
from tests.audit.conftest import T0, event

ROUTES = ["whoami", "echo", "status", "", None]
CALLERS = [("a@example.com", "sub-a", None), (None, "sub-b", None), (None, None, "key-1"), (None, None, None)]
STATUSES = [200, 200, 200, 201, 302, 401, 404, 500, 503]
SINCE = T0 + timedelta(hours=1, minutes=23, seconds=17, microseconds=500_000)
UNTIL = T0 + timedelta(days=2, hours=5, minutes=41, seconds=3, microseconds=250_000)


def random_events(n: int, seed: int = 7) -> list[EventRecord]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        email, subject, key = rng.choice(CALLERS)
        status = rng.choice(STATUSES)
        out.append(
            event(
                rng.uniform(0, 3 * 86400),
                status=status,
                duration_ms=round(rng.lognormvariate(2, 1.2), 3),
                route_name=rng.choice(ROUTES),
                user_email=email,
                user_subject=subject,
                api_key_name=key,
                method=rng.choice(["GET", "POST"]),
            )
        )
    # Rows exactly on the window's edges and on period boundaries.
    for at in (SINCE, UNTIL, SINCE - timedelta(microseconds=1), T0 + timedelta(days=1), T0 + timedelta(hours=30)):
        out.append(event((at - T0).total_seconds(), status=500, duration_ms=1.5))
    return out


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SQLAuditStore]:
    database = Database(db_url)
    try:
        yield SQLAuditStore(database)
    finally:
        await database.dispose()


async def answers(store: SQLAuditStore, filters: AuditFilters) -> dict[str, Any]:
    failed = AuditFilters(since=filters.since, until=filters.until, success=False)
    stats = await store.stats(filters)
    out: dict[str, Any] = {
        "stats": (stats.total, stats.errors, stats.extra),
        "percentiles": (stats.p50_ms, stats.p95_ms, stats.p99_ms),
        "failed_routes": sorted(
            (g.key, g.count, g.errors, g.avg_duration_ms) for g in await store.breakdown(failed, "route_name", 50)
        ),
    }
    for dimension in ("status_class", "route_name", "user"):
        groups = await store.breakdown(filters, dimension, 50)
        out[dimension] = sorted((g.key, g.count, g.errors, g.avg_duration_ms) for g in groups)
    for bucket in (60, 600, 3600, 7200):
        series = await store.timeseries(filters, bucket)
        out[f"series{bucket}"] = [(b.start, b.count, b.errors, b.avg_duration_ms) for b in series]
        failed_series = await store.timeseries(failed, bucket)
        out[f"failed{bucket}"] = [(b.start, b.count, b.errors, b.avg_duration_ms) for b in failed_series]
    return out


async def scanned(store: SQLAuditStore, filters: AuditFilters, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    with monkeypatch.context() as patch:
        patch.setattr(rollups, "usable", lambda *a, **k: False)
        return await answers(store, filters)


async def table(store: SQLAuditStore) -> list[tuple[Any, ...]]:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(ROLLUP).order_by(*ROLLUP.primary_key.columns))).all()
    return [(*r[:4], *[round(float(v), 6) for v in r[4:]]) for r in rows]


async def rebuilt(store: SQLAuditStore) -> list[tuple[Any, ...]]:
    async with store.engine.begin() as conn:
        await conn.run_sync(rollups.rebuild)
    return await table(store)


async def test_the_rollup_answers_what_the_rows_answer(store: SQLAuditStore, monkeypatch: pytest.MonkeyPatch) -> None:
    records = random_events(1500)
    for first in range(0, len(records), 100):  # the writer's batches
        await store.append_many(records[first : first + 100])
    window = AuditFilters(since=SINCE, until=UNTIL)
    fast, slow = await answers(store, window), await scanned(store, window, monkeypatch)
    assert fast == slow
    assert fast["stats"][0] > 0 and any(c for _, c, _, _ in fast["series3600"][1:2])


async def test_a_window_shorter_than_two_minutes_reads_the_rows(
    store: SQLAuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.append_many([event(s, duration_ms=s) for s in range(0, 200, 7)])
    window = AuditFilters(since=T0 + timedelta(seconds=30.5), until=T0 + timedelta(seconds=95))
    assert await answers(store, window) == await scanned(store, window, monkeypatch)


async def test_percentiles_are_exact_with_ties_and_durations_on_bucket_edges(
    store: SQLAuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    edges = [latency_ceiling(k) for k in (-40, -4, 0, 1, 4, 27, 28, 31)]
    durations = [0.0, 2**25 + 1.0, *edges, *(math.nextafter(e, math.inf) for e in edges)]
    durations += [float(n % 250) for n in range(700)]  # ties: many events share a duration
    records = [event(30 + i * 317.3, duration_ms=d) for i, d in enumerate(durations)]
    for first in range(0, len(records), 90):
        await store.append_many(records[first : first + 90])
    for since, until in ((T0, T0 + timedelta(days=3)), (SINCE, UNTIL), (T0 + timedelta(seconds=50), SINCE)):
        window = AuditFilters(since=since, until=until)
        fast, slow = await answers(store, window), await scanned(store, window, monkeypatch)
        assert fast == slow
        assert fast["stats"][0] > 0


async def test_the_dashboards_filters_are_answered_from_the_rollup(store: SQLAuditStore) -> None:
    """The list order (``sort``) is no filter: a window alone is read from the rollup (rows deleted behind the
    rollup's back still count there)."""
    await store.append_many([event(600 + s, duration_ms=1.0) for s in range(0, 7200, 30)])
    async with store.engine.begin() as conn:
        await conn.execute(delete(EVENTS))
    for sort in ("time", "duration"):
        window = AuditFilters(since=T0, until=T0 + timedelta(hours=3), sort=sort)
        assert rollups.usable(window, failed_ok=False)
        assert sum(b.count for b in await store.timeseries(window, 3600)) == 240
        assert [(g.key, g.count) for g in await store.breakdown(window, "status_class", 5)] == [("2xx", 240)]
    assert not rollups.usable(AuditFilters(since=T0, method="GET"), failed_ok=True)


async def test_the_writers_sums_equal_a_recount_and_retention_keeps_them(
    store: SQLAuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = random_events(600, seed=11)
    for first in range(0, len(records), 64):
        await store.append_many(records[first : first + 64])
    incremental = await table(store)
    assert incremental and incremental == await rebuilt(store)
    cutoff = T0 + timedelta(days=1, hours=7, minutes=12, seconds=41.5)
    await store.delete_older_than(cutoff, batch_size=50)
    after = await table(store)
    assert after == await rebuilt(store)
    assert min(r[2] for r in after) >= int(cutoff.timestamp()) - 86400  # emptied periods are gone
    window = AuditFilters(since=T0, until=UNTIL)
    assert await answers(store, window) == await scanned(store, window, monkeypatch)


async def test_the_migration_counts_the_rows_that_were_there(sqlite_url: str) -> None:
    from apitest.db.engine import upgrade

    database = Database(sqlite_url)
    try:
        import asyncio

        await asyncio.to_thread(command.downgrade, alembic_config(sqlite_url), "0010_wire_exact")
        records = random_events(300, seed=3)
        now = datetime.now(UTC)
        async with database.engine.begin() as conn:
            await conn.execute(insert(EVENTS), [event_row(r, now) for r in records])
        await asyncio.to_thread(upgrade, sqlite_url)
        store = SQLAuditStore(database)
        migrated = await table(store)
        assert sum(r[4] for r in migrated if r[0] == "total" and r[1] == 60) == len(records)
        assert migrated == await rebuilt(store)
    finally:
        await database.dispose()


def test_a_window_is_covered_by_aligned_periods_without_gaps() -> None:
    cover = Cover(SINCE, UNTIL, inclusive=True)
    assert cover.head_end == SINCE.replace(second=0, microsecond=0) + timedelta(minutes=1)
    assert cover.tail_start == UNTIL.replace(second=0, microsecond=0)
    at = int(cover.head_end.timestamp())
    for span, first, end in cover.periods:
        assert first == at and first % span == 0 and end % span == 0 and end > first
        at = end
    assert at == int(cover.tail_start.timestamp())
    assert {span for span, _, _ in cover.periods} == {60, 3600, 86400}
    assert _cover(120, 120, (60,)) == []


@pytest.mark.parametrize("ms", [0.0, 0.0004, 0.9, 1.0, 1.2, 37.5, 250.0, 1e9])
def test_latency_buckets_hold_their_values(ms: float) -> None:
    k = latency_bucket(ms)
    if 2**-10 < ms < 2**25:
        assert latency_value(k - 1) < ms <= 2 ** (k / 4) and abs(latency_value(k) - ms) <= ms * 0.19


@pytest.mark.parametrize("k", [LATENCY_MIN, -13, -1, 0, 1, 2, 3, 4, 17, 29, 63, LATENCY_MAX - 1])
def test_a_latency_ceiling_is_the_last_duration_of_its_bucket(k: int) -> None:
    top = latency_ceiling(k)
    assert latency_bucket(top) == k and latency_bucket(math.nextafter(top, math.inf)) == k + 1
    low, high = latency_range(k + 1)
    assert low == top and (high is None) == (k + 1 == LATENCY_MAX)
    assert latency_range(LATENCY_MIN)[0] is None


async def test_a_retried_batch_is_stored_and_counted_once(store: SQLAuditStore) -> None:
    """A batch retried after a lost commit acknowledgement, with a new row beside the stored ones: the rows
    already stored are neither stored nor counted again (on PostgreSQL the direct COPY fails on the primary key
    and the staged path stores the rest)."""
    first = [event(i, status=200 + i, duration_ms=1.0 + i) for i in range(3)]
    await store.append_many(first)
    retried = [*first[:2], event(5, status=500, duration_ms=9.0)]
    await store.append_many(retried)
    assert await store.count(AuditFilters()) == 4
    assert await table(store) == await rebuilt(store)
