"""The data behind the audit pages: one function per page, returning plain JSON-ready dicts.

The HTML pages (:mod:`apitest.portal.pages`) render these dicts with templates; the JSON API
(:mod:`apitest.portal.api`) returns them as they are. Raising :class:`DataError` gives a 4xx answer in
either form.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from apitest.audit.filter_registry import FILTERS, PARAMS, SORTS
from apitest.audit.filters import FilterError, ParsedFilters, decode_cursor, encode_cursor, parse_filters, parse_last
from apitest.audit.records import AuditFilters, AuditStore, Cursor, EventRecord, Group
from apitest.audit.serialize import event_json
from apitest.audit.store_sql import MAX_BUCKETS
from apitest.portal import charts
from apitest.portal.core import Portal
from apitest.portal.counting import COUNT_CAP, bounded_count
from apitest.portal.diff import diff_bodies, diff_maps
from apitest.portal.snippets import all_snippets, captured
from apitest.portal.waiting import parse_wait, wait_for_rows

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
RECENT = 20
TOP = 10
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class DataError(Exception):
    """A request the data layer cannot answer; ``status`` is the HTTP status to use."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def store_of(portal: Portal) -> AuditStore:
    store = portal.audit_store
    if store is None:
        raise DataError("audit is disabled (audit.enabled is false)", 503)
    return store


def pipeline_health(portal: Portal) -> dict[str, Any]:
    """The audit writer's counters: queued, written, dropped, write errors, last error."""
    writer = portal.audit
    if writer is None:
        return {"enabled": False}
    return {"enabled": True, **writer.stats.snapshot()}


def parse_or_raise(query: Mapping[str, str]) -> ParsedFilters:
    parsed = parse_filters(query)
    if parsed.errors:
        raise DataError("; ".join(parsed.errors))
    return parsed


def event_id_or_raise(event_id: str) -> str:
    if not _UUID.match(event_id):
        raise DataError("event id is not a valid uuid")
    return event_id.lower()


def summary(record: EventRecord) -> dict[str, Any]:
    return event_json(record, include_payload=False)


# Audit list ------------------------------------------------------------------------------------------


def page_size(query: Mapping[str, str]) -> int:
    raw = query.get("limit", "")
    if not raw:
        return PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise DataError(f"limit must be an integer in [1, {MAX_PAGE_SIZE}]")
    return int(raw)


async def audit_list(portal: Portal, query: Mapping[str, str], *, strict: bool = True) -> dict[str, Any]:
    """A keyset page of events, newest first, with the filters that produced it.

    ``strict`` (the JSON API) refuses a bad filter with 400; the HTML page shows the problem and
    ignores that one filter instead. The JSON API also waits for rows when asked (``flush``, ``wait_ms``,
    ``min_rows``: :mod:`apitest.portal.waiting`).
    """
    store = store_of(portal)
    parsed = parse_or_raise(query) if strict else parse_filters(query)
    limit = page_size(query)
    token = query.get("next", "")
    try:
        after = decode_cursor(token) if token else None
        wait = parse_wait(query) if strict else None
    except (FilterError, ValueError) as exc:
        raise DataError(str(exc)) from exc
    waited = await wait_for_rows(portal.audit, store, parsed.filters, wait) if wait else None
    # The page and its (bounded) count run side by side, on two connections.
    page, total = await asyncio.gather(
        store.list_page(parsed.filters, after, limit), bounded_count(store, parsed.filters)
    )
    return {
        "events": [summary(e) for e in page.events],
        "next": encode_cursor(page.next) if page.next else None,
        "limit": limit,
        "total": total,
        "total_capped": total is not None and total >= COUNT_CAP,
        "filters": parsed.params,
        "described": parsed.described,
        "chips": [{"param": p, "text": t} for p, t in parsed.chips],
        "errors": parsed.errors,
        **({"wait": waited} if waited is not None else {}),
    }


# Event detail ----------------------------------------------------------------------------------------


def replay_refusal(portal: Portal, record: EventRecord) -> str:
    """Why this event cannot be replayed, or "" when it can."""
    if not record.path.startswith("/v1/"):
        return "only /v1/ requests can be replayed"
    if record.payload is None:
        return "no payload was captured for this event (audit.capture_payloads is off or it was not kept)"
    headers = record.payload.request_headers or {}
    if any(name.lower() == "x-plexara-replay-from" for name in headers) or record.source == "replay":
        return "this event is itself a replay; replay the original instead"
    if record.payload.request_truncated:
        return "the request body was truncated when captured, so it cannot be sent again as it was"
    return ""


async def event_detail(portal: Portal, event_id: str) -> dict[str, Any]:
    store = store_of(portal)
    event_id = event_id_or_raise(event_id)
    record = await store.get(event_id)
    if record is None:
        raise DataError(f'event "{event_id}" not found', 404)
    body = event_json(record, include_payload=True)
    payload = record.payload
    # Replays of this event carry its id in their X-Plexara-Replay-From header, which q searches.
    replays = await store.list_page(AuditFilters(source="replay", q=event_id), None, 20)
    request = captured(
        portal.settings.server.base_url,
        record.method,
        record.path,
        payload.request_query if payload else None,
        payload.request_headers if payload else None,
        payload.request_body if payload else None,
    )
    body["snippets"] = all_snippets(request)
    body["curl"] = body["snippets"][0]["code"]
    body["replay"] = {
        "allowed": not replay_refusal(portal, record),
        "refused_because": replay_refusal(portal, record),
    }
    body["replays"] = [summary(e) for e in replays.events]
    body["neighbours"] = await neighbours(store, record)
    return body


async def neighbours(store: AuditStore, record: EventRecord) -> dict[str, Any]:
    """Links around one event: ``older`` (the next row down the audit list, by time), ``newer`` (the next row
    written after it), ``previous_on_route`` (the last earlier row of the same route, for "compare with
    previous") and ``original`` (the event a replay repeated). Each is ``{id, method, path, status}`` or None."""
    here = Cursor(record.ts, record.id)
    older = await store.list_page(AuditFilters(), here, 1)
    same_route = None
    if record.route_name:
        same_route = await store.list_page(AuditFilters(route_name=record.route_name), here, 1)
    newer = None
    if record.recorded_at is not None:
        newer = await store.tail(AuditFilters(), Cursor(record.recorded_at, record.id), 1)

    def link(page: Any) -> dict[str, Any] | None:
        if page is None or not page.events:
            return None
        e = page.events[0]
        return {"id": e.id, "method": e.method, "path": e.path, "status": e.status}

    return {
        "older": link(older),
        "newer": link(newer),
        "previous_on_route": link(same_route),
        "original": record.payload.replayed_from if record.payload and record.payload.replayed_from else None,
    }


async def compare(portal: Portal, a: str, b: str) -> dict[str, Any]:
    """Two events side by side, with a structural diff of headers, query and bodies."""
    if not a or not b:
        raise DataError("give two event ids: ?a=<id>&b=<id>")
    left = await event_detail(portal, a)
    right = await event_detail(portal, b)
    lp, rp = left.get("payload") or {}, right.get("payload") or {}
    overview = [
        "method",
        "path",
        "status",
        "duration_ms",
        "auth_type",
        "user_subject",
        "route_name",
        "bytes_in",
        "bytes_out",
    ]
    return {
        "a": left,
        "b": right,
        "overview": [
            {"field": k, "a": left.get(k), "b": right.get(k), "same": left.get(k) == right.get(k)} for k in overview
        ],
        "request_headers": [vars(r) for r in diff_maps(lp.get("request_headers"), rp.get("request_headers"))],
        "request_query": [vars(r) for r in diff_maps(lp.get("request_query"), rp.get("request_query"))],
        "response_headers": [vars(r) for r in diff_maps(lp.get("response_headers"), rp.get("response_headers"))],
        "request_body": _body_diff(lp, rp, "request_body"),
        "response_body": _body_diff(lp, rp, "response_body"),
    }


def _body_diff(lp: dict[str, Any], rp: dict[str, Any], key: str) -> dict[str, Any]:
    d = diff_bodies(lp.get(key), rp.get(key))
    return {"mode": d.mode, "equal": d.equal, "rows": [vars(r) for r in d.rows]}


# Aggregates and the dashboard ------------------------------------------------------------------------


def window_of(query: Mapping[str, str], default: str = "1h") -> tuple[str, datetime, datetime]:
    """The ``last`` window (default 1 h), or explicit ``from`` / ``to``; returns (label, since, until)."""
    now = datetime.now(UTC)
    parsed = parse_or_raise(query)
    label = parsed.params.get("last", "" if "from" in parsed.params else default)
    since = parsed.filters.since or now - parse_last(label or default)
    until = parsed.filters.until or now
    return label, since, until


def _window_filters(query: Mapping[str, str]) -> tuple[AuditFilters, datetime, datetime, str]:
    parsed = parse_or_raise(query)
    label, since, until = window_of(query)
    parsed.filters.since, parsed.filters.until = since, until
    return parsed.filters, since, until, label


def _groups(groups: list[Group]) -> list[dict[str, Any]]:
    return [
        {"key": g.key, "count": g.count, "errors": g.errors, "avg_duration_ms": round(g.avg_duration_ms, 1)}
        for g in groups
    ]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def timeseries(portal: Portal, query: Mapping[str, str]) -> dict[str, Any]:
    filters, since, until, _ = _window_filters(query)
    raw = query.get("bucket_seconds", "")
    bucket = int(raw) if raw.isdigit() else charts.bucket_seconds_for(until - since)
    bucket = max(1, min(86400, bucket))
    if (until - since).total_seconds() / bucket > MAX_BUCKETS:
        raise DataError(f"too many buckets (more than {MAX_BUCKETS}); widen bucket_seconds or narrow the window")
    buckets = await store_of(portal).timeseries(filters, bucket)
    return {
        "from": _iso(since),
        "to": _iso(until),
        "bucket_seconds": bucket,
        "buckets": [
            {
                "time": _iso(b.start),
                "count": b.count,
                "errors": b.errors,
                "avg_duration_ms": round(b.avg_duration_ms, 1),
            }
            for b in buckets
        ],
    }


BREAKDOWN_HELP = "endpoint_group, route_name, status, status_class, auth_type, user, path"


async def breakdown(portal: Portal, query: Mapping[str, str]) -> dict[str, Any]:
    from apitest.audit.records import BREAKDOWN_DIMENSIONS

    filters, since, until, _ = _window_filters(query)
    dimension = query.get("dimension", "endpoint_group")
    if dimension not in BREAKDOWN_DIMENSIONS:
        raise DataError(f'unknown dimension "{dimension}"; valid: {", ".join(BREAKDOWN_DIMENSIONS)}')
    raw_top = query.get("top", "20")
    if not raw_top.isdigit() or not 1 <= int(raw_top) <= 200:
        raise DataError("top must be an integer in [1, 200]")
    groups = await store_of(portal).breakdown(filters, dimension, int(raw_top))
    return {"from": _iso(since), "to": _iso(until), "dimension": dimension, "groups": _groups(groups)}


async def stats(portal: Portal, query: Mapping[str, str]) -> dict[str, Any]:
    filters, since, until, _ = _window_filters(query)
    s = await store_of(portal).stats(filters)
    return {
        "from": _iso(since),
        "to": _iso(until),
        "total": s.total,
        "errors": s.errors,
        "success": s.total - s.errors,
        "error_rate": s.error_rate,
        "p50_ms": s.p50_ms,
        "p95_ms": s.p95_ms,
        "p99_ms": s.p99_ms,
    }


async def dashboard(portal: Portal, query: Mapping[str, str]) -> dict[str, Any]:
    """The last hour (or ``last`` window): totals, latency percentiles, requests over time, status classes,
    top routes by errors, top callers, the audit pipeline's health and the newest events."""
    store = store_of(portal)
    filters, since, until, label = _window_filters({k: v for k, v in query.items() if k in ("last", "from", "to")})
    window = {"last": label} if label else {"from": _iso(since), "to": _iso(until)}
    series = await timeseries(portal, window)
    totals = await stats(portal, window)
    failed = AuditFilters(since=since, until=until, success=False)
    recent = await store.list_page(AuditFilters(since=since, until=until), None, RECENT)
    return {
        "window": label,
        "window_from": _iso(since),
        "window_to": _iso(until),
        "total": totals["total"],
        "success_count": totals["success"],
        "stats": totals,
        "timeseries": series,
        "status_classes": _groups(await store.breakdown(filters, "status_class", 5)),
        "top_error_routes": _groups(await store.breakdown(failed, "route_name", TOP)),
        "top_callers": _groups(await store.breakdown(filters, "user", TOP)),
        "pipeline": pipeline_health(portal),
        "recent": [summary(e) for e in recent.events],
    }


def audit_meta(portal: Portal) -> dict[str, Any]:
    enabled = portal.audit_store is not None
    return {
        "filters": list(PARAMS),
        "filter_help": [
            {"param": s.param, "aliases": list(s.aliases), "search_key": s.search_key, "help": s.help} for s in FILTERS
        ],
        "sorts": list(SORTS),
        "pagination": {"kind": "keyset", "param": "next", "limit_default": PAGE_SIZE, "limit_max": MAX_PAGE_SIZE},
        "features": {
            "timeseries": enabled,
            "breakdown": enabled,
            "stats": enabled,
            "stream": enabled,
            "export": enabled,
            "replay": enabled and portal.settings.audit.capture_payloads,
        },
        "count_cap": COUNT_CAP,
    }
