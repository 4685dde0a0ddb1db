"""Streamed audit output: the live tail (SSE) and the NDJSON / CSV exports.

Live tail: ``GET /api/v1/portal/audit/stream`` with the audit list's filters. It polls the store every
second for rows *stored* after its position (``recorded_at``, so a long request that ends now is not
missed although it started long ago) and sends each as ``event: audit`` with the event JSON. The SSE
``id`` is the tail position, so a reconnecting ``EventSource`` (``Last-Event-ID``) resumes where it left
off. ``: heartbeat`` every 15 s; ``event: saturated`` when more than 10 pages arrived in one second
(the client should reload); ``event: error`` on a query error.

Exports: every row matching the filters with ``ts`` up to the moment the export started (so rows that
arrive meanwhile do not shift it), newest first, read in keyset pages, never held in memory. There is
no row cap without payloads; ``payloads=1`` (NDJSON) and the HAR export (``export.har``, HAR 1.2 with the
stored headers and bodies: :mod:`apitest.portal.har`) read each row's payload and stop at 10,000 rows (also
their default ``limit``). An explicit ``limit`` stops early and says so in a trailer (NDJSON ``{"_export_truncated":
true, "_limit": N}``, CSV a ``# export truncated`` line). An error mid-stream ends with
``{"_export_error": ...}`` / ``# export error: ...``: a cut-off file is never passed off as complete.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from apitest import logs
from apitest.audit.filters import FilterError, decode_cursor, encode_cursor
from apitest.audit.records import AuditFilters, AuditStore, Cursor, EventRecord
from apitest.audit.serialize import event_json
from apitest.forwarded import public_origin
from apitest.http import StreamResponse, error_response
from apitest.portal import har
from apitest.portal.core import portal_of
from apitest.portal.data import DataError, parse_or_raise, store_of

log = logs.get("portal.stream")

POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
TAIL_PAGE = 1000
TAIL_PAGES_PER_TICK = 10
EXPORT_PAGE = 1000
PAYLOAD_EXPORT_MAX = 10_000  # rows in a HAR or NDJSON-with-payloads export (also the default limit)
CSV_COLUMNS = (
    "id",
    "timestamp",
    "method",
    "path",
    "status",
    "success",
    "duration_ms",
    "route_name",
    "endpoint_group",
    "auth_type",
    "user_subject",
    "user_email",
    "api_key_name",
    "request_id",
    "source",
    "error_category",
    "error_message",
    "bytes_in",
    "bytes_out",
    "remote_addr",
    "user_agent",
    # the request as it arrived, credential evidence and wire timing (lists as JSON text)
    "raw_target",
    "http_version",
    "host",
    "header_list",
    "credentials",
    "ttfb_ms",
    "chunk_offsets",
    "client_complete",
)
NO_STORE = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _sse(event: str, data: str, event_id: str = "") -> bytes:
    lines = [f"id: {event_id}"] if event_id else []
    lines.append(f"event: {event}")
    lines += [f"data: {line}" for line in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


async def tail_events(
    store: AuditStore, filters: AuditFilters, start: Cursor, *, poll: float = POLL_SECONDS
) -> AsyncGenerator[bytes, None]:
    yield b"retry: 3000\n: stream open\n\n"
    cursor = start
    last_beat = time.monotonic()
    while True:
        try:
            for _ in range(TAIL_PAGES_PER_TICK):
                page = await store.tail(filters, cursor, TAIL_PAGE)
                for record in page.events:
                    body = json.dumps(event_json(record, include_payload=False), ensure_ascii=False)
                    position = Cursor(record.recorded_at or record.ts, record.id)
                    yield _sse("audit", body, encode_cursor(position))
                cursor = page.next or cursor
                if len(page.events) < TAIL_PAGE:
                    break
            else:
                yield _sse("saturated", json.dumps({"reason": "more than 10000 events in a second"}))
        except Exception as exc:
            log.warning("audit stream query failed", extra={"err": f"{type(exc).__name__}: {exc}"})
            yield _sse("error", json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
            last_beat = time.monotonic()
            yield b": heartbeat\n\n"
        await asyncio.sleep(poll)


async def stream(request: Request) -> Response:
    portal = portal_of(request)
    query = dict(request.query_params)
    try:
        store = store_of(portal)
        filters = parse_or_raise(query).filters
        resume = request.headers.get("last-event-id", "")
        start = decode_cursor(resume) if resume else Cursor(datetime.now(UTC), "")
    except DataError as exc:
        return error_response(exc.message, exc.status)
    except FilterError as exc:
        return error_response(str(exc), 400)
    return StreamResponse(tail_events(store, filters, start), content_type="text/event-stream", headers=NO_STORE)


async def export_rows(
    store: AuditStore, filters: AuditFilters, limit: int | None
) -> AsyncGenerator[EventRecord | Exception | int, None]:
    """Every matching event, then the count if ``limit`` stopped it, or the exception that ended it."""
    after: Cursor | None = None
    sent = 0
    try:
        while True:
            size = EXPORT_PAGE if limit is None else min(EXPORT_PAGE, limit - sent)
            page = await store.list_page(filters, after, size)
            for record in page.events:
                yield record
            sent += len(page.events)
            if page.next is None:
                return
            if limit is not None and sent >= limit:
                yield sent
                return
            after = page.next
    except Exception as exc:
        log.warning("audit export failed", extra={"err": f"{type(exc).__name__}: {exc}", "rows_sent": sent})
        yield exc


def _spreadsheet_safe(value: Any) -> Any:
    """Keep spreadsheets from running a cell as a formula (OWASP "CSV injection")."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value


async def with_payloads(
    store: AuditStore, rows: AsyncGenerator[EventRecord | Exception | int, None]
) -> AsyncGenerator[EventRecord | Exception | int, None]:
    """Each listed row read again with its payload (one primary-key read per row; exports with payloads are
    capped at :data:`PAYLOAD_EXPORT_MAX` rows)."""
    async for row in rows:
        if isinstance(row, EventRecord):
            try:
                full = await store.get(row.id)
            except Exception as exc:
                log.warning("audit export failed", extra={"err": f"{type(exc).__name__}: {exc}"})
                yield exc
                return
            yield full or row  # deleted by retention meanwhile: the row as listed
        else:
            yield row


async def ndjson_lines(
    rows: AsyncGenerator[EventRecord | Exception | int, None], payloads: bool = False
) -> AsyncGenerator[bytes, None]:
    async for row in rows:
        if isinstance(row, EventRecord):
            yield (json.dumps(event_json(row, include_payload=payloads), ensure_ascii=False) + "\n").encode()
        elif isinstance(row, Exception):
            yield (json.dumps({"_export_error": f"{type(row).__name__}: {row}"}) + "\n").encode()
        else:
            yield (json.dumps({"_export_truncated": True, "_limit": row}) + "\n").encode()


async def csv_lines(rows: AsyncGenerator[EventRecord | Exception | int, None]) -> AsyncGenerator[bytes, None]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    async for row in rows:
        if isinstance(row, EventRecord):
            data = event_json(row, include_payload=False)
            writer.writerow([_spreadsheet_safe(_cell(data.get(c, ""))) for c in CSV_COLUMNS])
        elif isinstance(row, Exception):
            buffer.write(f"# export error: {type(row).__name__}: {row}\r\n")
        else:
            buffer.write(f"# export truncated: limit of {row} rows reached\r\n")
        if buffer.tell() > 64 * 1024 or not isinstance(row, EventRecord):
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


async def har_document(
    rows: AsyncGenerator[EventRecord | Exception | int, None], origin: str
) -> AsyncGenerator[bytes, None]:
    yield har.head()
    first = True
    note: dict[str, Any] | None = None
    async for row in rows:
        if isinstance(row, EventRecord):
            text = json.dumps(har.entry(row, origin), ensure_ascii=False)
            yield (text if first else ",\n" + text).encode()
            first = False
        elif isinstance(row, Exception):
            note = {"error": f"{type(row).__name__}: {row}"}
        else:
            note = {"truncated": True, "limit": row}
    yield har.tail(note)


def export_limit(raw: str, payloads: bool) -> int | None:
    """``limit``: any positive number of rows without payloads (default: all); with payloads at most
    :data:`PAYLOAD_EXPORT_MAX` (the default too)."""
    if raw and not (raw.isdigit() and int(raw) > 0):
        raise DataError("limit must be a positive integer")
    if not payloads:
        return int(raw) if raw else None
    if raw and int(raw) > PAYLOAD_EXPORT_MAX:
        raise DataError(f"limit: exports with payloads are capped at {PAYLOAD_EXPORT_MAX} rows")
    return int(raw) if raw else PAYLOAD_EXPORT_MAX


async def export(request: Request, kind: str) -> Response:
    portal = portal_of(request)
    query = dict(request.query_params)
    payloads = kind == "har" or (kind == "ndjson" and query.get("payloads", "") in ("1", "true"))
    try:
        store = store_of(portal)
        filters = parse_or_raise(query).filters
        limit = export_limit(query.get("limit", ""), payloads)
    except DataError as exc:
        return error_response(exc.message, exc.status)
    now = datetime.now(UTC)
    filters.until = min(filters.until, now) if filters.until else now
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    rows = export_rows(store, filters, limit)
    if payloads:
        rows = with_payloads(store, rows)
    headers = {**NO_STORE, "X-Export-Until": now.isoformat().replace("+00:00", "Z")}
    if kind == "har":
        headers["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.har"'
        origin = public_origin(request.scope, portal.settings).url("")
        return StreamResponse(har_document(rows, origin), content_type="application/json", headers=headers)
    if kind == "csv":
        headers["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.csv"'
        return StreamResponse(csv_lines(rows), content_type="text/csv; charset=utf-8", headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.ndjson"'
    return StreamResponse(ndjson_lines(rows, payloads), content_type="application/x-ndjson", headers=headers)
