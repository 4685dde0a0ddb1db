"""SQL predicates for :class:`AuditFilters`, the breakdown keys and the free-text search, per dialect.

Every predicate is written so the indexes of ``audit_events`` can serve it: exact matches on indexed
columns, ``status_class`` as a range on ``status``, keyset pagination on ``(ts, id)``. Free text ``q``
cannot use an index; it is meant to be combined with a time window and a page limit. Its payload half
is a LEFT JOIN on the payload's primary key (one payload per event, so rows are never duplicated) rather
than an ``EXISTS``: PostgreSQL would turn an ``EXISTS`` inside ``OR`` into a hashed subplan that scans
every payload in the table, however narrow the time window.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, FromClause, LargeBinary, Text, and_, case, cast, func, literal, or_

from apitest.audit.records import BREAKDOWN_DIMENSIONS, AuditFilters
from apitest.db.models import Base

EVENTS = Base.metadata.tables["audit_events"]
PAYLOADS = Base.metadata.tables["audit_payloads"]
E = EVENTS.c
P = PAYLOADS.c


def escape_like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern with ``ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_pattern(text: str) -> str:
    return f"%{escape_like(text)}%"


def source(f: AuditFilters) -> FromClause:
    """What the predicates of ``f`` read: ``audit_events``, joined to its payload when ``q`` is set."""
    return EVENTS.outerjoin(PAYLOADS, P.event_id == E.id) if f.q else EVENTS


def conditions(f: AuditFilters, dialect: str) -> list[ColumnElement[bool]]:
    """The AND-combined predicates of ``f``, over :func:`source` of ``f``."""
    out: list[ColumnElement[bool]] = []
    exact = {
        E.method: f.method,
        E.path: f.path,
        E.route_name: f.route_name,
        E.endpoint_group: f.endpoint_group,
        E.status: f.status,
        E.success: f.success,
        E.auth_type: f.auth_type,
        E.user_subject: f.user,
        E.session_id: f.session,
        E.request_id: f.request_id,
        E.error_category: f.error_category,
        E.source: f.source,
    }
    out += [column == value for column, value in exact.items() if value is not None]
    if f.since is not None:
        out.append(E.ts >= f.since)
    if f.until is not None:
        out.append(E.ts <= f.until)
    if f.status_class is not None:
        out.append(and_(E.status >= f.status_class * 100, E.status < f.status_class * 100 + 100))
    if f.caller is not None:
        out.append(or_(E.user_subject == f.caller, E.api_key_name == f.caller, E.user_email == f.caller))
    if f.path_contains:
        out.append(E.path.ilike(contains_pattern(f.path_contains), escape="\\"))
    if f.raw_target:
        # Case-sensitive on both backends (SQLite's LIKE is not): %2F and %2f are different bytes on the wire.
        find = func.strpos if dialect == "postgresql" else func.instr
        out.append(find(E.raw_target, f.raw_target) > 0)
    if f.fingerprint:
        # A fingerprint is "sha256:" + 12 hex digits (checked by the filter parser), quoted as a JSON string.
        out.append(cast(E.credentials, Text).like(contains_pattern(f'"{f.fingerprint}"'), escape="\\"))
    if f.q:
        out.append(text_search(f.q, dialect))
    return out


def text_search(q: str, dialect: str) -> ColumnElement[bool]:
    """Case-insensitive substring over path, error message, headers, query and both bodies.

    Bodies are bytes and need not be UTF-8. They are searched twice without ever decoding them (which
    would fail on invalid UTF-8): as escaped text, case-insensitively for ASCII, and as raw bytes for
    an exact match of ``q``'s UTF-8 encoding (non-ASCII text, backslashes).
    """
    pattern = contains_pattern(q)
    needle = q.encode()
    on_event = [E.path.ilike(pattern, escape="\\"), E.error_message.ilike(pattern, escape="\\")]
    on_payload: list[ColumnElement[bool]] = [
        cast(P.request_headers, Text).ilike(pattern, escape="\\"),
        cast(P.request_query, Text).ilike(pattern, escape="\\"),
        cast(P.response_headers, Text).ilike(pattern, escape="\\"),
    ]
    for body in (P.request_body, P.response_body):
        if dialect == "postgresql":
            raw = literal(b"%" + escape_like_bytes(needle) + b"%", LargeBinary)
            bytes_like = body.op("LIKE", is_comparison=True)(raw)
            on_payload += [func.encode(body, "escape").ilike(pattern, escape="\\"), bytes_like]
        else:
            on_payload += [
                cast(body, Text).ilike(pattern, escape="\\"),
                func.instr(body, literal(needle, LargeBinary)) > 0,
            ]
    return or_(*on_event, *on_payload)


def escape_like_bytes(data: bytes) -> bytes:
    return data.replace(b"\\", b"\\\\").replace(b"%", b"\\%").replace(b"_", b"\\_")


def breakdown_key(dimension: str) -> ColumnElement[str]:
    """The grouping key of a breakdown, with the original's placeholders for empty values."""
    if dimension not in BREAKDOWN_DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; valid: {', '.join(BREAKDOWN_DIMENSIONS)}")
    if dimension in ("endpoint_group", "route_name"):
        return func.coalesce(func.nullif(E[dimension], ""), "(unknown)")
    if dimension == "auth_type":
        return func.coalesce(func.nullif(E.auth_type, ""), "(unauthenticated)")
    if dimension == "status":
        return cast(E.status, Text)
    if dimension == "status_class":
        return cast(E.status // 100, Text) + "xx"
    if dimension == "path":
        return E.path
    return func.coalesce(
        func.nullif(E.user_email, ""),
        func.nullif(E.user_subject, ""),
        literal("key:") + func.nullif(E.api_key_name, ""),
        "(anonymous)",
    )


def error_count() -> ColumnElement[int]:
    return func.coalesce(func.sum(case((E.success.is_(False), 1), else_=0)), 0)
