"""An in-memory :class:`AuditStore` with the semantics of the SQL store, for unit tests.

It mirrors the SQL store rule for rule: duplicate ids are ignored (``ON CONFLICT DO NOTHING``), a
``replayed_from`` naming an unknown event is refused like the foreign key, ``q`` matches path, error
message, headers, query and bodies case-insensitively, percentiles are ``percentile_disc``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from apitest.audit.filter_registry import matches
from apitest.audit.records import (
    BREAKDOWN_DIMENSIONS,
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
from apitest.audit.store_sql import (
    MAX_BUCKETS,
    PERCENTILES,
    bucket_count,
    clamp_limit,
    nearest_rank,
    page_cursor,
    window,
)


def _stored(payload: PayloadRecord | None) -> PayloadRecord | None:
    """What the SQL store reads back: empty maps, bodies and ``replayed_from`` become NULL."""
    if payload is None:
        return None
    return replace(
        payload,
        request_headers=payload.request_headers or None,
        request_query=payload.request_query or None,
        response_headers=payload.response_headers or None,
        request_body=payload.request_body or None,
        response_body=payload.response_body or None,
        replayed_from=payload.replayed_from or None,
    )


def breakdown_key(dimension: str) -> Callable[[EventRecord], str]:
    if dimension not in BREAKDOWN_DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; valid: {', '.join(BREAKDOWN_DIMENSIONS)}")
    keys: dict[str, Callable[[EventRecord], str]] = {
        "endpoint_group": lambda r: r.endpoint_group or "(unknown)",
        "route_name": lambda r: r.route_name or "(unknown)",
        "status": lambda r: str(r.status),
        "status_class": lambda r: f"{r.status // 100}xx",
        "auth_type": lambda r: r.auth_type or "(unauthenticated)",
        "path": lambda r: r.path,
        "user": lambda r: (
            r.user_email or r.user_subject or (f"key:{r.api_key_name}" if r.api_key_name else "(anonymous)")
        ),
    }
    return keys[dimension]


def _avg(values: list[float]) -> float:
    return round(sum(values) / len(values), 1) if values else 0.0


class MemoryAuditStore:
    def __init__(self) -> None:
        self.events: dict[str, EventRecord] = {}
        self.fail_with: Exception | None = None  # tests: make every append_many raise this
        self.append_calls: list[int] = []  # sizes of the batches appended

    async def append_many(self, records: list[EventRecord]) -> None:
        self.append_calls.append(len(records))
        if self.fail_with is not None:
            raise self.fail_with
        known = set(self.events) | {r.id for r in records}
        for r in records:
            if r.payload is not None and r.payload.replayed_from and r.payload.replayed_from not in known:
                raise InvalidRecordError(f"replayed_from {r.payload.replayed_from} is not a stored event")
        now = datetime.now(UTC)
        for r in records:
            if r.id not in self.events:
                self.events[r.id] = replace(r, recorded_at=now, payload=_stored(r.payload))

    async def get(self, event_id: str) -> EventRecord | None:
        found = self.events.get(event_id)
        if found is None:
            return None
        return replace(found, payload=replace(found.payload) if found.payload else None)

    def _select(self, f: AuditFilters) -> list[EventRecord]:
        return [r for r in self.events.values() if matches(r, f)]

    async def list_page(self, filters: AuditFilters, after: Cursor | None = None, limit: int = 50) -> Page:
        limit = clamp_limit(limit)
        by_duration = filters.sort == "duration"

        def key(r: EventRecord) -> tuple[Any, str]:
            return (r.duration_ms if by_duration else r.ts, r.id)

        rows = sorted(self._select(filters), key=key, reverse=True)
        if after is not None:
            position = ((after.duration_ms or 0.0) if by_duration else after.ts, after.id)
            rows = [r for r in rows if key(r) < position]
        page = [replace(r, payload=None) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(page, page_cursor(page[-1], by_duration) if more else None)

    async def tail(self, filters: AuditFilters, after: Cursor, limit: int = 1000) -> Page:
        rows = [r for r in self._select(filters) if r.recorded_at and (r.recorded_at, r.id) > (after.ts, after.id)]
        rows = sorted(rows, key=lambda r: (r.recorded_at or after.ts, r.id))[: clamp_limit(limit)]
        if not rows:
            return Page([], after)
        last = rows[-1]
        assert last.recorded_at is not None
        return Page([replace(r, payload=None) for r in rows], Cursor(last.recorded_at, last.id))

    async def count(self, filters: AuditFilters, cap: int | None = None) -> int:
        n = len(self._select(filters))
        return n if cap is None else min(n, max(0, cap))

    async def timeseries(self, filters: AuditFilters, bucket_seconds: int) -> list[Bucket]:
        if bucket_seconds < 1:
            raise ValueError("bucket_seconds must be >= 1")
        since, until = window(filters)
        n = bucket_count(since, until, bucket_seconds)
        if n > MAX_BUCKETS:
            raise ValueError(f"too many buckets ({n} > {MAX_BUCKETS}); use a larger bucket_seconds")
        grouped: dict[int, list[EventRecord]] = {}
        for r in self._select(replace(filters, since=None, until=None)):
            if since <= r.ts < until:
                grouped.setdefault(int((r.ts - since).total_seconds()) // bucket_seconds, []).append(r)
        step = timedelta(seconds=bucket_seconds)
        out = []
        for i in range(n):
            rows = grouped.get(i, [])
            errors = sum(1 for r in rows if not r.success)
            out.append(Bucket(since + i * step, len(rows), errors, _avg([r.duration_ms for r in rows])))
        return out

    async def breakdown(self, filters: AuditFilters, dimension: str, top: int) -> list[Group]:
        key_of = breakdown_key(dimension)
        grouped: dict[str, list[EventRecord]] = {}
        for r in self._select(filters):
            grouped.setdefault(key_of(r), []).append(r)
        groups = [
            Group(key, len(rows), sum(1 for r in rows if not r.success), _avg([r.duration_ms for r in rows]))
            for key, rows in grouped.items()
        ]
        groups.sort(key=lambda g: (-g.count, g.key))
        return groups[: max(1, top)]

    async def stats(self, filters: AuditFilters) -> Stats:
        rows = self._select(filters)
        durations = sorted(r.duration_ms for r in rows)
        n = len(durations)
        values = [float(durations[nearest_rank(n, p)]) if n else 0.0 for p in PERCENTILES]
        extra = {"avg_ms": _avg(durations), "max_ms": round(float(durations[-1]), 3) if durations else 0.0}
        errors = sum(1 for r in rows if not r.success)
        return Stats(n, errors, values[0], values[1], values[2], extra)

    async def delete_older_than(self, cutoff: datetime, batch_size: int = 5000) -> int:
        doomed = [r.id for r in self.events.values() if r.ts < cutoff]
        for event_id in doomed:
            del self.events[event_id]
        gone = set(doomed)
        for r in self.events.values():
            if r.payload is not None and r.payload.replayed_from in gone:
                r.payload.replayed_from = None
        return len(doomed)
