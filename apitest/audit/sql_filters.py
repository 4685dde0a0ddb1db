"""SQL building blocks of the audit filters (the predicates themselves are declared per filter in
:mod:`apitest.audit.filter_registry`): the FROM clause, LIKE escaping, the free-text search and the breakdown
keys, per dialect.

Every predicate is written so the indexes of ``audit_events`` can serve it: exact matches on indexed
columns, ``status_class`` as a range on ``status``, keyset pagination on ``(ts, id)``, free text ``q``
through the search indexes (:func:`text_search`). The payload half of ``q`` is a LEFT JOIN on the
payload's primary key (one payload per event, so rows are never duplicated) rather than an ``EXISTS``:
PostgreSQL would turn an ``EXISTS`` inside ``OR`` into a hashed subplan that scans every payload in the
table, however narrow the time window.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    LargeBinary,
    Select,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    union,
)

from apitest.audit.records import BREAKDOWN_DIMENSIONS, AuditFilters
from apitest.audit.search import EVENT_FIELDS, MIN_LENGTH, PAYLOAD_FIELDS, document, escape_encoding, sqlite_phrase
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


def text_search(
    q: str, dialect: str, since: datetime | None = None, until: datetime | None = None
) -> ColumnElement[bool]:
    """Case-insensitive substring over path, error message, headers, query and both bodies.

    Bodies are bytes and need not be UTF-8. They are searched twice without ever decoding them (which
    would fail on invalid UTF-8): as escaped text, case-insensitively for ASCII, and as raw bytes for
    an exact match of ``q``'s UTF-8 encoding (non-ASCII text, backslashes; only then, since for other text
    the escaped form already finds it).

    Served by the search indexes of :mod:`apitest.audit.search` for three characters or more. PostgreSQL:
    the events that match, found through each table's ``pg_trgm`` index (a ``UNION`` of the two tables'
    matches: those whose document the index finds, then checked field by field), narrowed by the window
    when there is one.
    SQLite, without a window: the FTS5 trigram table gives the candidate rows, and the exact condition is
    checked on them (with a window, the window's rows are read).
    """
    if dialect == "postgresql":
        return _pg_search(q, since, until)
    if since is not None or until is not None:
        return exact_match(q, dialect)
    return row_search(q, dialect)


def exact_match(q: str, dialect: str) -> ColumnElement[bool]:
    """``q``'s condition checked on each row (over :func:`source`), without any search index."""
    return _match(q, dialect, E, P)


def row_search(q: str, dialect: str, rowids: tuple[int, int] | None = None) -> ColumnElement[bool]:
    """:func:`text_search` without a window, for a scan that reads the rows anyway (newest first, a bounded
    number of them): the same matches, each row checked on its own rather than the table's matches gathered.

    PostgreSQL: the exact condition (the trigram indexes only find rows; they never change which rows match).
    SQLite: the FTS5 candidates, as :func:`text_search` (the index decides what is found after a NUL byte), but
    only those whose ``rowid`` is within ``rowids`` (the scanned rows' smallest and largest), so FTS5 reads a
    slice of each trigram's list instead of all of it.
    """
    exact = exact_match(q, dialect)
    if dialect == "postgresql" or len(q) < MIN_LENGTH or "\x00" in q:
        return exact
    candidates: Select[Any] = select(literal_column("rowid")).select_from(table("audit_search"))
    candidates = candidates.where(literal_column("audit_search").op("MATCH")(sqlite_phrase(q)))
    if rowids is not None:
        candidates = candidates.where(literal_column("rowid").between(*rowids))
    return and_(literal_column("audit_events.rowid").in_(candidates), exact)


def _match(q: str, dialect: str, e: Any, p: Any) -> ColumnElement[bool]:
    return or_(*_event_terms(q, e), *_payload_terms(q, dialect, p))


def _event_terms(q: str, e: Any) -> list[ColumnElement[bool]]:
    pattern = contains_pattern(q)
    return [e.path.ilike(pattern, escape="\\"), e.error_message.ilike(pattern, escape="\\")]


def _payload_terms(q: str, dialect: str, p: Any) -> list[ColumnElement[bool]]:
    pattern = contains_pattern(q)
    needle = q.encode()
    terms: list[ColumnElement[bool]] = [
        cast(p.request_headers, Text).ilike(pattern, escape="\\"),
        cast(p.request_query, Text).ilike(pattern, escape="\\"),
        cast(p.response_headers, Text).ilike(pattern, escape="\\"),
    ]
    for body in (p.request_body, p.response_body):
        if dialect == "postgresql":
            terms.append(func.encode(body, literal_column("'escape'")).ilike(pattern, escape="\\"))
            if _needs_bytes(q):
                raw = literal(b"%" + escape_like_bytes(needle) + b"%", LargeBinary)
                terms.append(body.op("LIKE", is_comparison=True)(raw))
        else:
            terms += [cast(body, Text).ilike(pattern, escape="\\"), func.instr(body, literal(needle, LargeBinary)) > 0]
    return terms


def _needs_bytes(q: str) -> bool:
    """Whether a body may hold ``q`` where its ``escape`` text does not show it (non-ASCII text, a backslash)."""
    return not q.isascii() or "\\" in q


def _pg_search(q: str, since: datetime | None, until: datetime | None) -> ColumnElement[bool]:
    events, payloads = EVENTS.alias("search_events"), PAYLOADS.alias("search_payloads")
    window = [events.c.ts >= since] if since is not None else []
    window += [events.c.ts <= until] if until is not None else []
    on_events = select(events.c.id).where(
        *_indexed(q, EVENT_FIELDS, events.name), or_(*_event_terms(q, events.c)), *window
    )
    on_payloads = select(payloads.c.event_id).where(
        *_indexed(q, PAYLOAD_FIELDS, payloads.name, bodies=True), or_(*_payload_terms(q, "postgresql", payloads.c))
    )
    if window:
        on_payloads = on_payloads.join_from(payloads, events, events.c.id == payloads.c.event_id).where(*window)
    return E.id.in_(union(on_events, on_payloads))


def path_contains(text: str, dialect: str) -> ColumnElement[bool]:
    """``path`` contains ``text``, case-insensitively. On PostgreSQL the events' search index finds the rows (the
    path is the first line of the events' document), and the path itself is checked on them."""
    exact = E.path.ilike(contains_pattern(text), escape="\\")
    if dialect != "postgresql":
        return exact
    return and_(*_indexed(text, EVENT_FIELDS, EVENTS.name), exact)


def _indexed(q: str, fields: tuple[str, ...], qualifier: str, *, bodies: bool = False) -> list[ColumnElement[bool]]:
    """The condition a table's search index serves: its document contains ``q``. Only a necessary one: every
    field's match is also the document's, but a match across the line between two fields is not a field's, so
    the fields are still checked each on its own. The document of a body is its ``escape`` text: raw bytes
    holding ``q`` show there as ``q``'s own ``escape`` text (case-sensitive, as the bytes are compared)."""
    if len(q) < MIN_LENGTH:
        return []  # no trigram to look up: the rows are read, and the fields' check alone decides
    doc = literal_column(document(fields, qualifier), Text)  # literal SQL: the planner matches it to the index's
    found: ColumnElement[bool] = doc.ilike(contains_pattern(q), escape="\\")
    if bodies and _needs_bytes(q):
        found = or_(found, doc.like(contains_pattern(escape_encoding(q.encode())), escape="\\"))
    return [found]


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
