"""Pre-aggregated audit sums, so the dashboard reads thousands of rows instead of millions.

``audit_rollup_minute`` holds, per period and per dashboard dimension, the count, the errors, the duration
sums and the longest duration of the events in it. The periods are minutes, hours and days (``span`` 60,
3600, 86400): a window is covered by whole days in its middle, whole hours and minutes towards its edges,
and the events of the partial minutes at either end are read from ``audit_events`` itself, so every total is
exact. The dimensions are what the dashboard shows: ``total``, ``status_class`` (``2xx``), ``route`` (as the
route breakdown names it), ``caller`` (as the user breakdown does), ``method``, and ``latency``: a histogram
of durations in buckets a quarter of a doubling wide (``2^(k/4)`` ms). A percentile is the histogram's word on
which bucket holds it and how many events lie below that bucket, then one read of that bucket's durations in
the window (index ``audit_events_duration_idx``, migration ``0014_audit_duration_index``): exact, as when the
rows are ranked.

Kept consistent by whoever changes ``audit_events``:

- the writer adds each stored batch in the batch's own transaction (:func:`add`);
- retention drops the periods it emptied and recounts the ones its cutoff cuts through (:func:`prune`);
- migration ``0011_audit_rollups`` counts the rows that existed before (:func:`rebuild`).

Every key is computed by :class:`Accumulator` in Python (writer, retention and migration alike), so the three
always agree.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from apitest.audit.records import AuditFilters, EventRecord
from apitest.audit.sql_filters import E
from apitest.db.models import Base

ROLLUP = Base.metadata.tables["audit_rollup_minute"]
R = ROLLUP.c
SPANS = (86400, 3600, 60)
LATENCY_STEPS = 4  # buckets per doubling of the duration
LATENCY_MIN, LATENCY_MAX = -40, 100  # 2^-10 ms (1 µs) .. 2^25 ms (9 h)
READ_CHUNK = 20_000
MAX_COVERED_BUCKETS = 500  # a timeseries of more buckets reads the rows
# The breakdown dimensions served from the rollup, by their breakdown name.
BREAKDOWNS = {"status_class": "status_class", "route_name": "route", "user": "caller"}
RAW_COLUMNS = [E.ts, E.status, E.success, E.duration_ms, E.route_name, E.user_email, E.user_subject]
RAW_COLUMNS += [E.api_key_name, E.method]
WINDOW_FIELDS = ("since", "until")
NOT_FILTERS = ("sort",)  # AuditFilters fields that order a list and select no rows


def latency_bucket(ms: float) -> int:
    if ms <= 0:
        return LATENCY_MIN
    return max(LATENCY_MIN, min(LATENCY_MAX, math.ceil(math.log2(ms) * LATENCY_STEPS)))


def latency_value(bucket: int) -> float:
    """The geometric middle of a latency bucket, ``(2^((k-1)/4), 2^(k/4)]`` ms."""
    return float(2 ** ((bucket - 0.5) / LATENCY_STEPS))


@functools.cache
def latency_ceiling(bucket: int) -> float:
    """The largest duration :func:`latency_bucket` puts in ``bucket`` or below: near ``2^(k/4)``, but found by
    stepping float by float, so a SQL range ``(ceiling(k - 1), ceiling(k)]`` holds exactly the bucket's rows."""
    assert LATENCY_MIN <= bucket < LATENCY_MAX
    at = float(2 ** (bucket / LATENCY_STEPS))
    while latency_bucket(at) > bucket:
        at = math.nextafter(at, -math.inf)
    while latency_bucket(math.nextafter(at, math.inf)) <= bucket:
        at = math.nextafter(at, math.inf)
    return at


def latency_range(bucket: int) -> tuple[float | None, float | None]:
    """``(low, high)``: a bucket's durations are ``> low`` and ``<= high`` (``None``: unbounded)."""
    low = latency_ceiling(bucket - 1) if bucket > LATENCY_MIN else None
    high = latency_ceiling(bucket) if bucket < LATENCY_MAX else None
    return low, high


def caller_key(email: str | None, subject: str | None, key_name: str | None) -> str:
    """The user breakdown's key (:func:`apitest.audit.sql_filters.breakdown_key`), in Python."""
    return email or subject or (f"key:{key_name}" if key_name else "(anonymous)")


def epoch(ts: datetime) -> int:
    return math.floor(ts.timestamp())


class Accumulator:
    """Sums per (dimension, span, bucket, key): ``[count, errors, duration_sum, error_duration_sum, max]``."""

    def __init__(self) -> None:
        self.sums: dict[tuple[str, int, int, str], list[float]] = {}

    def add_rows(self, rows: Iterable[Sequence[Any]], ranges: dict[int, tuple[int, int]] | None = None) -> None:
        """``rows``: the values of :data:`RAW_COLUMNS` of events. ``ranges``: per span, the buckets to count
        (all when ``None``). Rows are first combined per minute and key, so a batch of alike requests costs a
        dict update each and the periods are added once per combination."""
        combos: dict[tuple[int, str, str, str, str, int], list[float]] = {}
        for ts, status, success, duration, route, email, subject, key_name, method in rows:
            duration = float(duration or 0)
            failed = 0 if success else 1
            at = math.floor(ts.timestamp())
            combo = (
                at - at % 60,
                f"{int(status) // 100}xx",
                route or "(unknown)",
                caller_key(email, subject, key_name),
                method,
                latency_bucket(duration),
            )
            sums = combos.get(combo)
            if sums is None:
                combos[combo] = [1, failed, duration, duration * failed, duration]
            else:
                sums[0] += 1
                sums[1] += failed
                sums[2] += duration
                sums[3] += duration * failed
                if duration > sums[4]:
                    sums[4] = duration
        for (minute, status_class, route, caller, method, latency), add in combos.items():
            keys = (
                ("total", ""),
                ("status_class", status_class),
                ("route", route),
                ("caller", caller),
                ("method", method),
                ("latency", str(latency)),
            )
            for span in SPANS:
                bucket = minute - minute % span
                if ranges is not None and not ranges[span][0] <= bucket < ranges[span][1]:
                    continue
                for dimension, key in keys:
                    sums = self.sums.get((dimension, span, bucket, key))
                    if sums is None:
                        self.sums[(dimension, span, bucket, key)] = list(add)
                    else:
                        sums[0] += add[0]
                        sums[1] += add[1]
                        sums[2] += add[2]
                        sums[3] += add[3]
                        if add[4] > sums[4]:
                            sums[4] = add[4]

    def rows(self) -> list[dict[str, Any]]:
        """Upsert parameters in key order (every writer locks rows in the same order: no deadlocks)."""
        names = ("count", "errors", "duration_sum", "error_duration_sum", "duration_max")
        return [
            {"dimension": d, "span": s, "bucket": b, "key": k, **dict(zip(names, v, strict=True))}
            for (d, s, b, k), v in sorted(self.sums.items())
        ]


def upsert(dialect: str) -> Any:
    insert = pg_insert(ROLLUP) if dialect == "postgresql" else sqlite_insert(ROLLUP)
    new = insert.excluded
    greatest = func.greatest if dialect == "postgresql" else func.max
    return insert.on_conflict_do_update(
        index_elements=[R.dimension, R.span, R.bucket, R.key],
        set_={
            "count": R.count + new.count,
            "errors": R.errors + new.errors,
            "duration_sum": R.duration_sum + new.duration_sum,
            "error_duration_sum": R.error_duration_sum + new.error_duration_sum,
            "duration_max": greatest(R.duration_max, new.duration_max),
        },
    )


def record_row(r: EventRecord) -> tuple[Any, ...]:
    return (r.ts, r.status, r.success, r.duration_ms, r.route_name, r.user_email, r.user_subject, r.api_key_name)


async def add(conn: AsyncConnection, dialect: str, records: Sequence[EventRecord]) -> None:
    """Count a stored batch into the rollup, inside the batch's transaction."""
    sums = Accumulator()
    sums.add_rows((*record_row(r), r.method) for r in records)
    if sums.sums:
        await conn.execute(upsert(dialect), sums.rows())


# Rebuilding from the rows (migration, retention) ------------------------------------------------------


def _floor(at: int, span: int) -> int:
    return at - at % span


def _ceil(at: int, span: int) -> int:
    return -((-at) // span) * span


def rebuild(conn: Connection, since: datetime | None = None, until: datetime | None = None) -> int:
    """Recount every period that overlaps ``[since, until)`` (everything when both are ``None``) from
    ``audit_events``; returns how many events were read. Synchronous: Alembic and ``run_sync`` call it."""
    dialect = conn.dialect.name
    ranges: dict[int, tuple[int, int]] = {}
    if since is None or until is None:
        conn.execute(delete(ROLLUP))
        where: list[ColumnElement[bool]] = []
    else:
        lo, hi = epoch(since), math.ceil(until.timestamp())
        for span in SPANS:
            ranges[span] = (_floor(lo, span), _ceil(hi, span) if hi > lo else _floor(lo, span) + span)
            a, b = ranges[span]
            conn.execute(delete(ROLLUP).where(R.span == span, R.bucket >= a, R.bucket < b))
        first = min(a for a, _ in ranges.values())
        last = max(b for _, b in ranges.values())
        where = [E.ts >= datetime.fromtimestamp(first, UTC), E.ts < datetime.fromtimestamp(last, UTC)]
    read = 0
    sums = Accumulator()
    # Keyset pages rather than a server-side cursor: a cursor left open blocks the DDL of later migrations.
    after: tuple[datetime, str] | None = None
    while True:
        stmt = select(*RAW_COLUMNS, E.id).where(*where).order_by(E.ts, E.id).limit(READ_CHUNK)
        if after is not None:
            stmt = stmt.where(tuple_(E.ts, E.id) > tuple_(*after))
        chunk = conn.execute(stmt).all()
        sums.add_rows((row[:-1] for row in chunk), ranges or None)
        read += len(chunk)
        if len(sums.sums) >= READ_CHUNK:
            conn.execute(upsert(dialect), sums.rows())
            sums = Accumulator()
        if len(chunk) < READ_CHUNK:
            break
        after = (chunk[-1][0], chunk[-1][-1])
    if sums.sums:
        conn.execute(upsert(dialect), sums.rows())
    return read


def prune(conn: Connection, cutoff: datetime) -> None:
    """After retention deleted the events before ``cutoff``: drop the periods that ended before it and recount
    the periods it cuts through."""
    at = epoch(cutoff)
    for span in SPANS:
        conn.execute(delete(ROLLUP).where(R.span == span, R.bucket < _floor(at, span)))
    rebuild(conn, cutoff, cutoff)


# Reading ----------------------------------------------------------------------------------------------


def usable(filters: AuditFilters, *, failed_ok: bool) -> bool:
    """``filters`` constrain only the window (and, where ``failed_ok``, ``success=false``): the rollup answers."""
    if filters.since is None:
        return False
    for f in fields(filters):
        value = getattr(filters, f.name)
        if f.name in WINDOW_FIELDS or f.name in NOT_FILTERS or value is None or value == "" or value == ():
            continue
        if f.name == "success" and value is False and failed_ok:
            continue
        return False
    return True


class Cover:
    """A window split into rollup periods and the raw partial minutes at its two ends."""

    def __init__(self, since: datetime, until: datetime, *, inclusive: bool) -> None:
        self.since, self.until, self.inclusive = since, until, inclusive
        start = since.replace(second=0, microsecond=0)
        self.head_end = start if start == since else start + timedelta(minutes=1)
        self.tail_start = until.replace(second=0, microsecond=0)
        self.periods: list[tuple[int, int, int]] = []  # (span, first bucket, end)
        if self.head_end < self.tail_start:
            self.periods = _cover(epoch(self.head_end), epoch(self.tail_start), SPANS)
        else:
            self.head_end = self.tail_start = until  # shorter than a minute or two: all of it is raw

    def rollup_where(self, dimension: str) -> list[ColumnElement[bool]]:
        spans = [and_(R.span == s, R.bucket >= a, R.bucket < b) for s, a, b in self.periods]
        return [R.dimension == dimension, or_(*spans) if spans else R.span < 0]

    def raw_where(self) -> ColumnElement[bool]:
        end = E.ts <= self.until if self.inclusive else E.ts < self.until
        head = and_(E.ts >= self.since, E.ts < self.head_end)
        return or_(head, and_(E.ts >= self.tail_start, end)) if self.periods else and_(E.ts >= self.since, end)


def _cover(lo: int, hi: int, spans: Sequence[int]) -> list[tuple[int, int, int]]:
    if lo >= hi or not spans:
        return []
    span, rest = spans[0], spans[1:]
    a, b = _ceil(lo, span), _floor(hi, span)
    if a >= b:
        return _cover(lo, hi, rest)
    return [*_cover(lo, a, rest), (span, a, b), *_cover(b, hi, rest)]
