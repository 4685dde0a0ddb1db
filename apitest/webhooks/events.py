"""What a subscription receives: an audit filter (the portal's filter language) and the payloads sent.

A subscription's ``filter`` is the audit page's query parameters written as ``key=value`` pairs separated
by spaces or ``&`` (``status=5xx route=create_order``, ``category=rate_limited&method=POST``); values may
be percent-encoded. It is parsed by :func:`apitest.audit.filters.parse_filters` and matched with the
in-memory rules of :func:`apitest.audit.filter_registry.matches`, so a filter selects the same rows here as
on the audit page. Time parameters (``from``, ``to``, ``last``) make no sense for future events and are
refused, as is any parameter that does not parse.

Payloads follow the Standard Webhooks shape ``{"type", "timestamp", "data"}`` as compact JSON; the bytes
are stored with the delivery, so every retry sends (and signs) exactly the same body.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from apitest.audit.filter_registry import matches
from apitest.audit.filters import PARAMS, parse_filters
from apitest.audit.records import AuditFilters, EventRecord

AUDIT_EVENT_TYPE = "audit.event"
TIME_PARAMS = ("from", "to", "last")
EVENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
MAX_FILTER = 1000


@dataclass(frozen=True)
class EventFilter:
    text: str  # canonical: "key=value key=value", values percent-encoded where needed
    filters: AuditFilters
    described: tuple[str, ...]

    def matches(self, record: EventRecord) -> bool:
        return matches(record, self.filters)

    @property
    def needs_payload(self) -> bool:
        """``q`` searches headers and bodies, which a listed row does not carry."""
        return bool(self.filters.q)


def parse_event_filter(text: str) -> EventFilter:
    """Parse a subscription filter; raises ``ValueError`` naming every bad parameter."""
    text = text.strip()
    if len(text) > MAX_FILTER:
        raise ValueError(f"filter: longer than {MAX_FILTER} characters")
    if "&" in text:
        pairs = parse_qsl(text, keep_blank_values=True)
    else:
        pairs = []
        for item in text.split():
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"filter: {item!r} is not key=value")
            pairs.append((key, unquote(value)))
    known = set(PARAMS) | {"route"}
    problems = [
        f"{k}: not a filter (use one of {', '.join(p for p in PARAMS if p not in TIME_PARAMS)})"
        for k, _ in pairs
        if k not in known
    ]
    problems += [f"{k}: time filters do not apply to future events" for k, _ in pairs if k in TIME_PARAMS]
    values = dict(pairs)
    if len(values) != len(pairs):
        problems.append("a parameter is given twice")
    parsed = parse_filters(values)
    problems += parsed.errors
    if problems:
        raise ValueError("filter: " + "; ".join(problems))
    if not parsed.params:
        raise ValueError("filter: empty (give at least one key=value, e.g. status=5xx)")
    canonical = " ".join(f"{k}={quote(v, safe='')}" for k, v in parsed.params.items())
    return EventFilter(canonical, parsed.filters, tuple(parsed.described))


def check_event_type(value: Any) -> str:
    if not isinstance(value, str) or not EVENT_TYPE.match(value):
        raise ValueError("type: 1-100 characters of letters, digits and . _ : - (e.g. order.created)")
    return value


def payload_bytes(event_type: str, timestamp: datetime, data: Any) -> bytes:
    """The body sent: compact JSON, non-ASCII as UTF-8."""
    body = {"type": event_type, "timestamp": iso(timestamp), "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def audit_data(record: EventRecord) -> dict[str, Any]:
    """The audit event as delivered: the row's summary, never its captured headers or bodies."""
    return {
        "id": record.id,
        "ts": iso(record.ts),
        "method": record.method,
        "path": record.path,
        "status": record.status,
        "success": record.success,
        "duration_ms": record.duration_ms,
        "route_name": record.route_name,
        "endpoint_group": record.endpoint_group,
        "request_id": record.request_id,
        "auth_type": record.auth_type,
        "caller": record.api_key_name or record.user_subject or None,
        "error_category": record.error_category,
        "error_message": record.error_message,
        "source": record.source,
    }
