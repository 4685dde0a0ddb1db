"""The dashboard's aggregates read from ``audit_rollup_minute`` (:mod:`apitest.audit.rollups`).

Each function answers exactly what the store's row-scanning query answers for the same filters (the store
calls them only when :func:`~apitest.audit.rollups.usable` says the rollup can): sums over the covering
periods, plus the same sums over the raw partial minutes at the window's ends. Percentiles are exact too: the
latency histogram says which bucket holds each one, and one indexed read of that bucket's durations in the
window picks it.
"""

from __future__ import annotations

import bisect
import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import Boolean, Float, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from apitest.audit.records import AuditFilters, Bucket, Group, Stats
from apitest.audit.rollups import (
    BREAKDOWNS,
    Cover,
    R,
    epoch,
    latency_bucket,
    latency_range,
)
from apitest.audit.sql_filters import E, breakdown_key
from apitest.db.models import UTCDateTime

SUMS = [func.sum(R.count), func.sum(R.errors), func.sum(R.duration_sum), func.sum(R.error_duration_sum)]
PERCENTILES = (0.5, 0.95, 0.99)


def _until(filters: AuditFilters) -> datetime:
    return filters.until or datetime.now(UTC)


def _failed_only(filters: AuditFilters) -> list[object]:
    return [E.success.is_(False)] if filters.success is False else []


async def breakdown(conn: AsyncConnection, filters: AuditFilters, dimension: str, top: int) -> list[Group]:
    assert filters.since is not None
    failed = filters.success is False
    cover = Cover(filters.since, _until(filters), inclusive=True)
    sums: dict[str, list[float]] = {}
    stmt = select(R.key, *SUMS).where(*cover.rollup_where(BREAKDOWNS[dimension])).group_by(R.key)
    for key, count, errors, duration, failed_duration in await conn.execute(stmt):
        sums[str(key)] = [int(count), int(errors), float(duration), float(failed_duration)]
    key_of = breakdown_key(dimension).label("k")
    raw = (
        select(key_of, func.count(), func.coalesce(func.sum(E.duration_ms), 0), E.success)
        .where(cover.raw_where(), *_failed_only(filters))  # type: ignore[arg-type]
        .group_by(key_of, E.success)
    )
    for key, count, duration, success in await conn.execute(raw):
        entry = sums.setdefault(str(key), [0, 0, 0.0, 0.0])
        entry[0] += count
        entry[2] += duration
        if not success:
            entry[1] += count
            entry[3] += duration
    groups = []
    for key, (count, errors, duration, failed_duration) in sums.items():
        if failed:
            count, duration = errors, failed_duration
        if count:
            groups.append(Group(key, int(count), int(errors), round(float(duration) / count, 1)))
    groups.sort(key=lambda g: (-g.count, g.key))
    return groups[: max(1, top)]


async def timeseries(
    conn: AsyncConnection, filters: AuditFilters, since: datetime, until: datetime, bucket_seconds: int, n: int
) -> list[Bucket]:
    """Each chart bucket covered on its own (:class:`Cover`), so every period read lies inside one bucket."""
    failed = filters.success is False
    step = timedelta(seconds=bucket_seconds)
    covers = [Cover(since + i * step, min(until, since + (i + 1) * step), inclusive=False) for i in range(n)]
    slots = [[0, 0, 0.0] for _ in range(n)]  # count, errors, duration sum
    periods = [(i, period) for i, cover in enumerate(covers) for period in cover.periods]
    # Hand-written SQL text (integers and bound timestamps only): the hundred-odd terms of this window cost more
    # to build as SQLAlchemy expressions than to run.
    if periods:
        terms = " OR ".join(f"(span = {s:d} AND bucket >= {a:d} AND bucket < {b:d})" for _, (s, a, b) in periods)
        stmt = text(
            "SELECT span, bucket, count, errors, duration_sum, error_duration_sum FROM audit_rollup_minute "  # noqa: S608
            f"WHERE dimension = 'total' AND ({terms})"
        )
        owner = _Owners(periods)
        for span, bucket, count, errors, duration, failed_duration in await conn.execute(stmt):
            slot = slots[owner(span, bucket)]
            slot[0] += errors if failed else count
            slot[1] += errors
            slot[2] += failed_duration if failed else duration
    start = epoch(since)
    edges = _raw_minutes(covers)
    ranges = " OR ".join(f"(ts >= :a{i} AND ts < :b{i})" for i in range(len(edges)))
    params = [bindparam(f"a{i}", lo, UTCDateTime()) for i, (lo, _) in enumerate(edges)]
    params += [bindparam(f"b{i}", hi, UTCDateTime()) for i, (_, hi) in enumerate(edges)]
    failed_only = " AND success = false" if failed else ""
    raw = (
        text(
            f"SELECT ts, success, duration_ms FROM audit_events WHERE ({ranges}){failed_only}"  # noqa: S608
        )
        .bindparams(*params)
        .columns(ts=UTCDateTime(), success=Boolean(), duration_ms=Float())
    )
    for ts, success, duration in await conn.execute(raw):
        index = (epoch(ts) - start) // bucket_seconds
        if 0 <= index < n:
            slots[index][0] += 1
            slots[index][1] += 0 if success else 1
            slots[index][2] += duration
    return [
        Bucket(since + i * step, int(c), int(e), round(float(d) / c, 1) if c else 0.0)
        for i, (c, e, d) in enumerate(slots)
    ]


class _Owners:
    """Which chart bucket a rollup row (span, bucket) belongs to: its period, found by bisection."""

    def __init__(self, periods: list[tuple[int, tuple[int, int, int]]]) -> None:
        self.by_span: dict[int, tuple[list[int], list[tuple[int, int]]]] = {}
        for i, (span, a, b) in sorted(periods, key=lambda p: (p[1][0], p[1][1])):
            starts, rest = self.by_span.setdefault(span, ([], []))
            starts.append(a)
            rest.append((b, i))

    def __call__(self, span: int, bucket: int) -> int:
        starts, rest = self.by_span[span]
        k = bisect.bisect_right(starts, bucket) - 1
        end, index = rest[k]
        if k < 0 or bucket >= end:
            raise LookupError((span, bucket))
        return index


def _raw_minutes(covers: list[Cover]) -> list[tuple[datetime, datetime]]:
    """The raw parts of consecutive covers, adjacent ones merged (a chart bucket's tail and the next one's head)."""
    out: list[tuple[datetime, datetime]] = []
    for cover in covers:
        parts = [(cover.since, cover.head_end), (cover.tail_start, cover.until)] if cover.periods else []
        for lo, hi in parts or [(cover.since, cover.until)]:
            if lo >= hi:
                continue
            if out and out[-1][1] == lo:
                out[-1] = (out[-1][0], hi)
            else:
                out.append((lo, hi))
    return out or [(covers[0].since, covers[0].since)]


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def stats_from_rollup(conn: AsyncConnection, filters: AuditFilters) -> Stats:
    """Totals from the rollup and the edge rows; each percentile from the latency histogram (which bucket holds
    it, how many events lie below that bucket), then read exactly among that bucket's durations in the window."""
    assert filters.since is not None
    until = _until(filters)
    cover = Cover(filters.since, until, inclusive=True)
    totals = select(*SUMS[:3], func.max(R.duration_max)).where(*cover.rollup_where("total"))
    row = (await conn.execute(totals)).one()
    count, errors, duration, peak = int(row[0] or 0), int(row[1] or 0), float(row[2] or 0), float(row[3] or 0)
    rows = (await conn.execute(select(E.duration_ms, E.success).where(cover.raw_where()))).all()
    edge = [float(d) for d, _ in rows]
    edge_errors = sum(1 for _, ok in rows if not ok)
    total = count + len(edge)
    if not total:
        return Stats(0, 0, 0.0, 0.0, 0.0, {"avg_ms": 0.0, "max_ms": 0.0})
    histogram: dict[int, int] = {}
    stmt = select(R.key, func.sum(R.count)).where(*cover.rollup_where("latency")).group_by(R.key)
    for key, n in await conn.execute(stmt):
        histogram[int(key)] = histogram.get(int(key), 0) + int(n)
    for d in edge:
        histogram[latency_bucket(d)] = histogram.get(latency_bucket(d), 0) + 1
    values = []
    for p in PERCENTILES:
        bucket, offset = _locate(histogram, max(0, min(total - 1, math.floor((total - 1) * p))))
        low, high = latency_range(bucket)
        where = [E.ts >= filters.since, E.ts <= until]
        where += [E.duration_ms > low] if low is not None else []
        where += [E.duration_ms <= high] if high is not None else []
        ranked = select(E.duration_ms).where(*where).order_by(E.duration_ms).offset(offset).limit(1)
        values.append(float((await conn.execute(ranked)).scalar_one()))
    peak = max([peak, *edge])
    extra = {"avg_ms": round((duration + sum(edge)) / total, 1), "max_ms": round(peak, 3)}
    return Stats(total, errors + edge_errors, values[0], values[1], values[2], extra)


def _locate(histogram: dict[int, int], index: int) -> tuple[int, int]:
    """The latency bucket holding the ``index``-th smallest duration, and that duration's index within it."""
    below = 0
    for bucket in sorted(histogram):
        if below + histogram[bucket] > index:
            return bucket, index - below
        below += histogram[bucket]
    raise LookupError(index)
