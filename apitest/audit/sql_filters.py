"""SQL building blocks of the audit filters (the predicates themselves are declared per filter in
:mod:`apitest.audit.filter_registry`): the FROM clause, LIKE escaping, the free-text search and the breakdown
keys, per dialect.

Every predicate is written so the indexes of ``audit_events`` can serve it: exact matches on indexed
columns, ``status_class`` as a range on ``status``, keyset pagination on ``(ts, id)``. Free text ``q``
cannot use an index; it is meant to be combined with a time window and a page limit. Its payload half
is a LEFT JOIN on the payload's primary key (one payload per event, so rows are never duplicated) rather
than an ``EXISTS``: PostgreSQL would turn an ``EXISTS`` inside ``OR`` into a hashed subplan that scans
every payload in the table, however narrow the time window.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, FromClause, LargeBinary, Text, case, cast, func, literal, or_

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
