"""Audit ingestion: events per second from the audit buffer into Postgres.

Subject: apitest's own ``AuditWriter`` over ``SQLAuditStore`` with the default batch size and flush interval,
the queue pre-filled with N captured-looking events (headers, query, small bodies), timed from the writer's
start until ``flush()`` reports every event settled. Baseline: the same rows (built by the store's own
``event_row``/``payload_row``) sent with asyncpg's binary COPY in batches of the same size, one transaction
per batch: what this Postgres can take at best.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import JSON

from apitest.audit.buffer import AuditWriter
from apitest.audit.records import EventRecord, PayloadRecord
from apitest.audit.sql_filters import EVENTS, PAYLOADS
from apitest.audit.store_sql import SQLAuditStore, event_row, payload_row
from apitest.config import Settings
from apitest.db.engine import Database, upgrade
from bench import pg
from bench.scenario import Context, Measure, Outcome

EVENTS_FULL = 25_000
EVENTS_QUICK = 10_000


def make_events(n: int, tag: str) -> list[EventRecord]:
    start = datetime.now(UTC) - timedelta(minutes=5)
    body = b'{"subject":"bench","auth_type":"apikey","key_name":"bench"}\n'
    events = []
    for i in range(n):
        events.append(
            EventRecord(
                id=str(uuid.uuid4()),
                ts=start + timedelta(microseconds=i * 50),
                method="GET" if i % 3 else "POST",
                path="/v1/whoami" if i % 3 else "/v1/echo",
                status=200 if i % 50 else 503,
                success=bool(i % 50),
                duration_ms=i % 17,
                request_id=str(uuid.uuid4()),
                user_subject="bench",
                auth_type="apikey",
                api_key_name="bench",
                route_name="whoami" if i % 3 else "echo_post",
                endpoint_group="identity" if i % 3 else "echo",
                bytes_in=0 if i % 3 else 64,
                bytes_out=len(body),
                remote_addr="127.0.0.1:40000",
                user_agent=tag,
                payload=PayloadRecord(
                    request_headers={
                        "Accept": ["*/*"],
                        "User-Agent": [tag],
                        "X-Api-Key": ["[redacted]"],
                        "X-Request-Id": [f"req-{i}"],
                    },
                    request_query={"probe": [str(i)]} if i % 3 == 0 else None,
                    request_content_type="application/json" if i % 3 == 0 else None,
                    request_body=b'{"order":{"id":42}}' if i % 3 == 0 else None,
                    request_size_bytes=0 if i % 3 else 19,
                    request_remote_addr="127.0.0.1:40000",
                    response_headers={"Content-Length": [str(len(body))], "Content-Type": ["application/json"]},
                    response_content_type="application/json",
                    response_body=body,
                    response_size_bytes=len(body),
                ),
            )
        )
    return events


async def writer_run(url: str, events: list[EventRecord], settings: Settings) -> tuple[float, dict[str, Any]]:
    database = Database(url)
    try:
        writer = AuditWriter(
            SQLAuditStore(database),
            buffer_size=len(events),
            batch_size=settings.audit.batch_size,
            flush_interval=settings.audit.flush_interval_ms / 1000,
        )
        for event in events:
            writer.offer(event)
        started = time.perf_counter()
        writer.start()
        settled = await writer.flush(300)
        elapsed = time.perf_counter() - started
        await writer.close(10)
        if not settled:
            raise RuntimeError("the writer did not settle the events within 300 s")
        return elapsed, writer.stats.snapshot()
    finally:
        await database.dispose()


def _copy_rows(table: Any, rows: list[dict[str, Any]]) -> tuple[list[str], list[tuple[Any, ...]]]:
    columns = [c.name for c in table.columns if any(c.name in row for row in rows[:1])]
    as_json = {c.name for c in table.columns if isinstance(c.type, JSON)}
    records = [
        tuple(json.dumps(row[c]) if c in as_json and row[c] is not None else row[c] for c in columns) for row in rows
    ]
    return columns, records


async def copy_run(url: str, events: list[EventRecord], batch_size: int) -> float:
    conn = await asyncpg.connect(pg.asyncpg_url(url))
    try:
        started = time.perf_counter()
        for i in range(0, len(events), batch_size):
            batch = events[i : i + batch_size]
            now = datetime.now(UTC)
            event_cols, event_records = _copy_rows(EVENTS, [event_row(e, now) for e in batch])
            payload_rows = [row for e in batch if (row := payload_row(e)) is not None]
            async with conn.transaction():
                await conn.copy_records_to_table("audit_events", records=event_records, columns=event_cols)
                if payload_rows:
                    payload_cols, payload_records = _copy_rows(PAYLOADS, payload_rows)
                    await conn.copy_records_to_table("audit_payloads", records=payload_records, columns=payload_cols)
        return time.perf_counter() - started
    finally:
        await conn.close()


def run(ctx: Context) -> Outcome:
    n = EVENTS_QUICK if ctx.quick else EVENTS_FULL
    rounds = 1 if ctx.quick else 2
    settings = Settings()
    ours: list[float] = []
    theirs: list[float] = []
    stats: list[dict[str, Any]] = []
    with pg.scratch_database("ingest") as db_url:
        upgrade(db_url)
        for r in range(rounds):  # in turns, on the same growing tables; the best round of each counts
            seconds, snapshot = asyncio.run(writer_run(db_url, make_events(n, f"bench-writer-{r}"), settings))
            ours.append(seconds)
            stats.append(snapshot)
            theirs.append(asyncio.run(copy_run(db_url, make_events(n, f"bench-copy-{r}"), settings.audit.batch_size)))
        written = pg.count_rows(db_url, "SELECT count(*) FROM audit_events WHERE user_agent LIKE 'bench-writer-%'")
        copied = pg.count_rows(db_url, "SELECT count(*) FROM audit_events WHERE user_agent LIKE 'bench-copy-%'")
    return Outcome(
        "ingestion",
        f"Audit ingestion: {n:,} events with payloads per round, buffer → Postgres",
        Measure(f"AuditWriter + SQLAuditStore, batch {settings.audit.batch_size}", n / min(ours), "events/s"),
        Measure(f"asyncpg binary COPY, batch {settings.audit.batch_size}", n / min(theirs), "events/s"),
        "events/s writer / raw COPY",
        ">=",
        0.4,
        details={
            "events_per_round": n,
            "rounds": rounds,
            "writer_seconds": [round(x, 3) for x in ours],
            "copy_seconds": [round(x, 3) for x in theirs],
            "writer_stats": stats,
            "rows_written": written,
            "rows_copied": copied,
        },
        checks={
            "every event written": written == n * rounds and all(x.get("dropped_total") == 0 for x in stats),
            "baseline wrote every row": copied == n * rounds,
        },
    )
