"""The audit store on SQLite and PostgreSQL, in SQLAlchemy Core.

Inserts are one transaction per batch. On PostgreSQL a batch of more than one row goes through the
driver's fastest path: asyncpg's binary ``COPY`` (``copy_records_to_table``) straight into the tables, the rows
read with one ``attrgetter`` per record type and encoded in chunks with a yield to the event loop between them,
so a large batch never holds the loop for more than a few milliseconds; a batch retried after a lost commit
acknowledgement goes through temporary staging tables instead (``_copy_staged``). Single rows (the writer's
one-by-one retry of a refused batch) and SQLite use SQLAlchemy's executemany (one prepared statement per
table) with ``ON CONFLICT DO NOTHING``. Either way a batch retried after a commit whose acknowledgement was
lost is not duplicated, and the stored values are the same (JSONB keeps the parsed value, so COPY's orjson text
and SQLAlchemy's ``json.dumps`` text store alike). Reads
use keyset pagination on ``(ts DESC, id DESC)``, counts stop at a cap, and aggregates (timeseries,
breakdown, percentiles) are computed by the database.
"""

from __future__ import annotations

import asyncio
import json
import math
import operator
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import orjson
from sqlalchemy import ColumnElement, Integer, Select, cast, delete, func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from apitest.audit import rollup_reads, rollups, search_walk
from apitest.audit.filter_registry import conditions
from apitest.audit.records import (
    AuditFilters,
    Bucket,
    Cursor,
    EventRecord,
    Group,
    InvalidRecordError,
    Page,
    PayloadRecord,
    Stats,
)
from apitest.audit.sql_filters import EVENTS, PAYLOADS, E, P, breakdown_key, error_count, source
from apitest.db.engine import Database

MAX_PAGE = 1000
MAX_BUCKETS = 10_000
PERCENTILES = (0.5, 0.95, 0.99)
EVENT_FIELDS = [f.name for f in fields(EventRecord) if f.name != "payload"]
PAYLOAD_FIELDS = [f.name for f in fields(PayloadRecord)]


class StoreError(Exception):
    """The database could not be reached or failed; the message is the driver's, without SQL or values."""


def describe(exc: DBAPIError) -> str:
    orig = exc.orig if exc.orig is not None else exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {text}" if text else type(orig).__name__


# SQLSTATE classes that describe the row, not the connection: 22 data exception (NUL in TEXT/JSONB, invalid
# UTF-8), 23 integrity constraint violation, 54 program limit exceeded (an index entry too large).
RECORD_SQLSTATE_CLASSES = ("22", "23", "54")
UNIQUE_VIOLATION = "23505"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (SQLAlchemy's ``orig``) or was raised from, each once."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in found):
        found.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return found


def stored_already(exc: BaseException) -> bool:
    """``exc`` is a primary-key conflict: rows of the batch are stored already (a retried batch)."""
    return any(
        (getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)) == UNIQUE_VIOLATION
        and getattr(e, "table_name", "audit_events") in ("audit_events", "audit_payloads")
        for e in _chain(exc)
    )


def raise_store_error(exc: BaseException) -> NoReturn:
    """Raise ``exc`` as :class:`InvalidRecordError` (the rows' values were refused) or :class:`StoreError`."""
    if isinstance(exc, DBAPIError):
        if refuses_record(exc):
            raise InvalidRecordError(describe(exc)) from exc
        raise StoreError(describe(exc)) from exc
    # the driver's own exceptions: a refused value, or a failed connection
    if refuses_record(exc):
        raise InvalidRecordError(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    raise StoreError(f"{type(exc).__name__}: {str(exc)[:200]}") from exc


def refuses_record(exc: BaseException) -> bool:
    """``exc`` says the database or its driver refused the values of the rows (retrying the same rows cannot
    succeed), rather than that the database failed. Walks the driver's exception and its causes: asyncpg reports
    a NUL as a generic error with SQLSTATE 22021/22P05, and an unencodable string as its own ``DataError``
    (a ``ValueError``) before anything is sent."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, IntegrityError | DataError | UnicodeError):
            return True
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(state, str) and state[:2] in RECORD_SQLSTATE_CLASSES:
            return True
        if isinstance(current, ValueError | TypeError | OverflowError) and not isinstance(current, DBAPIError):
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) and id(orig) not in seen else current.__cause__
    return False


def event_row(record: EventRecord, recorded_at: datetime) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in EVENT_FIELDS}
    row["recorded_at"] = recorded_at
    return row


def payload_row(record: EventRecord) -> dict[str, Any] | None:
    payload = record.payload
    if payload is None:
        return None
    row: dict[str, Any] = {name: getattr(payload, name) for name in PAYLOAD_FIELDS}
    for name in ("request_headers", "request_query", "response_headers"):
        row[name] = row[name] or None
    for name in ("request_body", "response_body", "replayed_from"):
        row[name] = row[name] or None
    row["event_id"] = record.id
    return row


# The COPY path (PostgreSQL). Columns are listed explicitly, so columns added by later migrations (with
# defaults) do not break it.
COPY_CHUNK = 500  # rows encoded between two yields to the event loop (~2 µs each: about a millisecond)
JSON_EVENT_FIELDS = {"details", "header_list", "credentials", "chunk_offsets"}
JSON_PAYLOAD_FIELDS = {"request_headers", "request_query", "response_headers"}
COPY_EVENT_COLUMNS = list(EVENT_FIELDS)  # recorded_at included
COPY_PAYLOAD_COLUMNS = [*PAYLOAD_FIELDS, "event_id", "captured_at"]
STAGE_EVENTS = "apitest_stage_audit_events"
STAGE_PAYLOADS = "apitest_stage_audit_payloads"
STAGE_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGE_EVENTS} (LIKE audit_events) ON COMMIT DELETE ROWS;"
    f" CREATE TEMP TABLE IF NOT EXISTS {STAGE_PAYLOADS} (LIKE audit_payloads) ON COMMIT DELETE ROWS"
)


def _insert_select(table: str, stage: str, columns: list[str]) -> str:
    """Fixed identifiers only (no value ever comes from a request)."""
    cols = ", ".join(columns)
    sql = f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage}"  # noqa: S608
    return sql + " ON CONFLICT DO NOTHING"


INSERT_EVENTS = _insert_select("audit_events", STAGE_EVENTS, COPY_EVENT_COLUMNS)
INSERT_PAYLOADS = _insert_select("audit_payloads", STAGE_PAYLOADS, COPY_PAYLOAD_COLUMNS)


def _json(value: Any) -> str | None:
    """A JSONB value's text (None stays SQL NULL). orjson, several times faster than ``json.dumps`` on the
    writer's path; what it cannot encode (an integer beyond 64 bits, a string with a lone surrogate) goes to
    ``json.dumps`` as before, so the database still decides about it. JSONB stores the parsed value, so the two
    encoders' different spacing never reaches a row."""
    if value is None:
        return None
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value)


# The COPY rows, read with one attrgetter per record type instead of a dict per row.
_EVENT_VALUES = operator.attrgetter(*COPY_EVENT_COLUMNS)
_EVENT_JSON = tuple(COPY_EVENT_COLUMNS.index(name) for name in sorted(JSON_EVENT_FIELDS))
_EVENT_TS = COPY_EVENT_COLUMNS.index("ts")
_EVENT_RECORDED = COPY_EVENT_COLUMNS.index("recorded_at")
_PAYLOAD_VALUES = operator.attrgetter(*PAYLOAD_FIELDS)
_PAYLOAD_JSON = tuple(PAYLOAD_FIELDS.index(name) for name in sorted(JSON_PAYLOAD_FIELDS))
_EMPTY_IS_NULL = (  # as payload_row stores them: an empty map, body or id is NULL
    "request_headers",
    "request_query",
    "response_headers",
    "request_body",
    "response_body",
    "replayed_from",
)
_PAYLOAD_EMPTY_IS_NULL = tuple(PAYLOAD_FIELDS.index(name) for name in _EMPTY_IS_NULL)


def copy_event(record: EventRecord, recorded_at: datetime) -> tuple[Any, ...]:
    """The values of ``COPY_EVENT_COLUMNS`` for one event, as :func:`event_row` has them (JSON encoded)."""
    row = list(_EVENT_VALUES(record))
    for index in _EVENT_JSON:
        row[index] = _json(row[index])
    row[_EVENT_TS] = row[_EVENT_TS].astimezone(UTC)
    row[_EVENT_RECORDED] = recorded_at
    return tuple(row)


def copy_payload(record: EventRecord, captured_at: datetime) -> tuple[Any, ...]:
    """The values of ``COPY_PAYLOAD_COLUMNS`` for an event's payload, as :func:`payload_row` has them."""
    assert record.payload is not None
    row = list(_PAYLOAD_VALUES(record.payload))
    for index in _PAYLOAD_EMPTY_IS_NULL:
        row[index] = row[index] or None
    for index in _PAYLOAD_JSON:
        row[index] = _json(row[index])
    row += (record.id, captured_at)
    return tuple(row)


def event_from(row: RowMapping) -> EventRecord:
    return EventRecord(**{name: row[name] for name in EVENT_FIELDS})


def payload_from(row: RowMapping) -> PayloadRecord:
    values = {name: row[name] for name in PAYLOAD_FIELDS}
    for name in ("request_body", "response_body"):
        if values[name] is not None:
            values[name] = bytes(values[name])
    return PayloadRecord(**values)


def page_cursor(last: EventRecord, by_duration: bool) -> Cursor:
    """The keyset position after ``last``: ``(ts, id)``, plus its duration when the page is slowest first."""
    return Cursor(last.ts, last.id, last.duration_ms if by_duration else None)


def clamp_limit(limit: int) -> int:
    return max(1, min(MAX_PAGE, limit))


def window(filters: AuditFilters, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The aggregate window: ``until`` defaults to now and ``since`` to an hour before; swapped if reversed;
    ``since`` is truncated to the second so buckets align on whole seconds on every backend."""
    until = filters.until or now or datetime.now(UTC)
    since = filters.since or until - timedelta(hours=1)
    if since > until:
        since, until = until, since
    return since.replace(microsecond=0), until


def bucket_count(since: datetime, until: datetime, bucket_seconds: int) -> int:
    """Buckets from ``since`` up to and including the one that holds ``until`` (a boundary bucket included:
    a 30-minute window at 300 s has 7 buckets, the last one starting at ``until`` when it falls on a boundary)."""
    return int((until - since).total_seconds() // bucket_seconds) + 1


def nearest_rank(n: int, p: float) -> int:
    """0-based index of the ``p`` percentile among ``n`` sorted values:
    ``floor((n - 1) * p)``, no interpolation."""
    return max(0, min(n - 1, math.floor((n - 1) * p)))


def disc_fraction(n: int, p: float) -> float:
    """The ``percentile_disc`` argument that selects index :func:`nearest_rank` among ``n`` values: the first
    value whose cumulative distribution reaches (k + 0.5) / n is the k-th."""
    return (nearest_rank(n, p) + 0.5) / n


class SQLAuditStore:
    """:class:`AuditStore` over the app's :class:`Database` (SQLite or PostgreSQL)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.engine = database.engine
        self.dialect = database.dialect
        self._insert = pg_insert if self.dialect == "postgresql" else sqlite_insert

    def _where(self, filters: AuditFilters) -> list[ColumnElement[bool]]:
        return conditions(filters, self.dialect)

    async def append_many(self, records: list[EventRecord]) -> None:
        if not records:
            return
        if self.dialect == "postgresql" and len(records) > 1:
            await self._copy_many(records)
            return
        now = datetime.now(UTC)
        events = [event_row(r, now) for r in records]
        payloads = [row for r in records if (row := payload_row(r)) is not None]
        try:
            async with self.engine.begin() as conn:
                # A batch retried after a lost commit acknowledgement: the rows stored already are neither
                # stored nor counted again.
                ids = [r.id for r in records]
                known = set((await conn.execute(select(E.id).where(E.id.in_(ids)))).scalars()) if records else set()
                await conn.execute(self._insert(EVENTS).on_conflict_do_nothing(), events)
                if payloads:
                    await conn.execute(self._insert(PAYLOADS).on_conflict_do_nothing(), payloads)
                await self.roll_up(conn, [r for r in records if r.id not in known])
        except DBAPIError as exc:
            if refuses_record(exc):
                raise InvalidRecordError(describe(exc)) from exc
            raise StoreError(describe(exc)) from exc
        except (StatementError, ValueError, TypeError, OverflowError) as exc:  # a value the driver cannot send
            if not refuses_record(exc):
                raise
            raise InvalidRecordError(f"{type(exc).__name__}: {str(exc)[:200]!r}") from exc

    async def _copy_many(self, records: list[EventRecord]) -> None:
        """PostgreSQL: binary ``COPY`` straight into the tables, the rollup counted in the same transaction.

        A batch retried after its commit's acknowledgement was lost finds some of its rows stored already: its
        ``COPY`` then fails on the primary key, the transaction rolls back, and the batch goes the staged way
        (:meth:`_copy_staged`), which stores and counts only the rows not stored yet. The direct way is taken
        first because it is half the database's work (each row written once) and half the round trips."""
        now = datetime.now(UTC)
        events: list[tuple[Any, ...]] = []
        payloads: list[tuple[Any, ...]] = []
        for start in range(0, len(records), COPY_CHUNK):
            for record in records[start : start + COPY_CHUNK]:
                events.append(copy_event(record, now))
                if record.payload is not None:
                    payloads.append(copy_payload(record, now))
            await asyncio.sleep(0)  # let requests in between chunks
        try:
            async with self.engine.connect() as conn, conn.begin():
                # The rollup first: SQLAlchemy opens the transaction with it, and the COPY on the driver connection
                # shares it, so a batch and its counts commit (or roll back) together.
                await self.roll_up(conn, records)
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection
                await driver.copy_records_to_table("audit_events", records=events, columns=COPY_EVENT_COLUMNS)
                if payloads:
                    await driver.copy_records_to_table("audit_payloads", records=payloads, columns=COPY_PAYLOAD_COLUMNS)
            return
        except Exception as exc:
            if not stored_already(exc):
                raise_store_error(exc)
        await self._copy_staged(records, events, payloads)

    async def _copy_staged(
        self, records: list[EventRecord], events: list[tuple[Any, ...]], payloads: list[tuple[Any, ...]]
    ) -> None:
        """Binary COPY into per-connection staging tables, then insert (and count) what is not stored yet."""
        try:
            async with self.engine.connect() as conn, conn.begin():
                # SQLAlchemy opens the transaction on its first statement; the COPY on the driver connection and
                # the rollup upsert below then share it, so a batch and its counts commit together.
                await conn.execute(select(literal(1)))
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection
                await driver.execute(STAGE_DDL)
                await driver.copy_records_to_table(STAGE_EVENTS, records=events, columns=COPY_EVENT_COLUMNS)
                stored = {row[0] for row in await driver.fetch(INSERT_EVENTS + " RETURNING id")}
                if payloads:
                    await driver.copy_records_to_table(STAGE_PAYLOADS, records=payloads, columns=COPY_PAYLOAD_COLUMNS)
                    await driver.execute(INSERT_PAYLOADS)
                # Only the rows this batch stored: a batch retried after a lost commit acknowledgement is not
                # counted twice.
                await self.roll_up(conn, [r for r in records if r.id in stored])
        except Exception as exc:
            raise_store_error(exc)

    async def roll_up(self, conn: AsyncConnection, records: list[EventRecord]) -> None:
        """Count a stored batch into the dashboard's rollup, in the batch's transaction (apitest.audit.rollups)."""
        await rollups.add(conn, self.dialect, records)

    async def get(self, event_id: str) -> EventRecord | None:
        stmt = (
            select(*EVENTS.c, *[P[name] for name in PAYLOAD_FIELDS], P.event_id.label("payload_event_id"))
            .select_from(EVENTS.outerjoin(PAYLOADS, P.event_id == E.id))
            .where(E.id == event_id)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        if row is None:
            return None
        record = event_from(row)
        if row["payload_event_id"] is not None:
            record.payload = payload_from(row)
        return record

    async def list_page(self, filters: AuditFilters, after: Cursor | None = None, limit: int = 50) -> Page:
        limit = clamp_limit(limit)
        if search_walk.walkable(filters, self.dialect):  # free text: the newest rows before the indexes
            async with self.engine.connect() as conn:
                rows = await search_walk.newest(conn, filters, self.dialect, after, limit + 1)
            found = [event_from(row) for row in rows]
            return Page(found[:limit], page_cursor(found[limit - 1], False) if len(found) > limit else None)
        stmt = select(*EVENTS.c).select_from(source(filters)).where(*self._where(filters))
        by_duration = filters.sort == "duration"
        if after is not None and by_duration:
            stmt = stmt.where(tuple_(E.duration_ms, E.id) < tuple_(after.duration_ms or 0.0, after.id))
        elif after is not None:
            stmt = stmt.where(tuple_(E.ts, E.id) < tuple_(after.ts, after.id))
        order = (E.duration_ms.desc(), E.id.desc()) if by_duration else (E.ts.desc(), E.id.desc())
        stmt = stmt.order_by(*order).limit(limit + 1)
        events = await self._events(stmt)
        more = len(events) > limit
        events = events[:limit]
        return Page(events, page_cursor(events[-1], by_duration) if more else None)

    async def tail(self, filters: AuditFilters, after: Cursor, limit: int = 1000) -> Page:
        """Rows stored after ``after`` (a ``(recorded_at, id)`` position), oldest write first; ``next`` is the
        position to poll from next time (``after`` itself when nothing new arrived)."""
        limit = clamp_limit(limit)
        stmt = (
            select(*EVENTS.c)
            .select_from(source(filters))
            .where(*self._where(filters), tuple_(E.recorded_at, E.id) > tuple_(after.ts, after.id))
            .order_by(E.recorded_at, E.id)
            .limit(limit)
        )
        events = await self._events(stmt)
        if not events:
            return Page([], after)
        last = events[-1]
        assert last.recorded_at is not None
        return Page(events, Cursor(last.recorded_at, last.id))

    async def _events(self, stmt: Select[Any]) -> list[EventRecord]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [event_from(row) for row in rows]

    async def count(self, filters: AuditFilters, cap: int | None = None) -> int:
        if cap is not None and search_walk.walkable(filters, self.dialect):
            async with self.engine.connect() as conn:
                return await search_walk.count(conn, filters, self.dialect, max(0, cap))
        where = self._where(filters)
        if cap is None:
            stmt = select(func.count()).select_from(source(filters)).where(*where)
        else:
            matching = select(E.id).select_from(source(filters)).where(*where).limit(max(0, cap))
            stmt = select(func.count()).select_from(matching.subquery())
        async with self.engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def timeseries(self, filters: AuditFilters, bucket_seconds: int) -> list[Bucket]:
        if bucket_seconds < 1:
            raise ValueError("bucket_seconds must be >= 1")
        since, until = window(filters)
        n = bucket_count(since, until, bucket_seconds)
        if n > MAX_BUCKETS:
            raise ValueError(f"too many buckets ({n} > {MAX_BUCKETS}); use a larger bucket_seconds")
        if n <= rollups.MAX_COVERED_BUCKETS and rollups.usable(filters, failed_ok=True):
            async with self.engine.connect() as conn:
                return await rollup_reads.timeseries(conn, filters, since, until, bucket_seconds, n)
        start = int(since.timestamp())
        index: ColumnElement[Any]
        if self.dialect == "postgresql":
            index = func.floor((func.extract("epoch", E.ts) - start) / bucket_seconds)
        else:
            index = (cast(func.strftime("%s", E.ts), Integer) - start) // bucket_seconds
        key = cast(index, Integer).label("k")
        where = [*self._where(_without_window(filters)), E.ts >= since, E.ts < until]
        stmt = (
            select(key, func.count().label("count"), error_count().label("errors"), func.avg(E.duration_ms))
            .select_from(source(filters))
            .where(*where)
            .group_by(key)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        found = {int(k): (int(c), int(e), float(a or 0)) for k, c, e, a in rows}
        step = timedelta(seconds=bucket_seconds)
        out = []
        for i in range(n):
            count, errors, avg = found.get(i, (0, 0, 0.0))
            out.append(Bucket(since + i * step, count, errors, round(avg, 1)))
        return out

    async def breakdown(self, filters: AuditFilters, dimension: str, top: int) -> list[Group]:
        if dimension in rollups.BREAKDOWNS and rollups.usable(filters, failed_ok=True):
            async with self.engine.connect() as conn:
                return await rollup_reads.breakdown(conn, filters, dimension, top)
        key = breakdown_key(dimension).label("key")
        stmt = (
            select(key, func.count().label("count"), error_count().label("errors"), func.avg(E.duration_ms))
            .select_from(source(filters))
            .where(*self._where(filters))
            .group_by(key)
            .order_by(func.count().desc(), key)
            .limit(max(1, top))
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [Group(str(k), int(c), int(e), round(float(a or 0), 1)) for k, c, e, a in rows]

    async def stats(self, filters: AuditFilters) -> Stats:
        where = self._where(filters)
        rows = source(filters)
        totals = [func.count(), error_count(), func.avg(E.duration_ms), func.max(E.duration_ms)]
        async with self.engine.connect() as conn:
            if rollups.usable(filters, failed_ok=False):
                return await rollup_reads.stats_from_rollup(conn, filters)
            total, errors, avg, peak = (await conn.execute(select(*totals).select_from(rows).where(*where))).one()
            if self.dialect == "postgresql":
                fractions = [disc_fraction(int(total), p) if total else 0.5 for p in PERCENTILES]
                ranks = [func.percentile_disc(f).within_group(E.duration_ms) for f in fractions]
                row = (await conn.execute(select(*ranks).select_from(rows).where(*where))).one()
                values = [float(v or 0) for v in row]
            else:
                values = []
                for p in PERCENTILES:
                    if not total:
                        values.append(0.0)
                        continue
                    ordered = select(E.duration_ms).select_from(rows).where(*where).order_by(E.duration_ms)
                    stmt = ordered.limit(1).offset(nearest_rank(int(total), p))
                    values.append(float((await conn.execute(stmt)).scalar_one()))
        extra = {"avg_ms": round(float(avg or 0), 1), "max_ms": round(float(peak or 0), 3)}
        return Stats(int(total), int(errors or 0), values[0], values[1], values[2], extra)

    async def delete_older_than(self, cutoff: datetime, batch_size: int = 5000) -> int:
        total = 0
        while True:
            oldest = select(E.id).where(E.ts < cutoff).order_by(E.ts).limit(max(1, batch_size))
            async with self.engine.begin() as conn:
                result = await conn.execute(delete(EVENTS).where(E.id.in_(oldest.scalar_subquery())))
            deleted = max(0, result.rowcount or 0)
            total += deleted
            if deleted < batch_size:
                async with self.engine.begin() as conn:
                    await conn.run_sync(rollups.prune, cutoff)
                return total
            await asyncio.sleep(0)  # let the writer and requests in between batches


def _without_window(filters: AuditFilters) -> AuditFilters:
    return replace(filters, since=None, until=None)
