"""The free-text search indexes (migration ``0012_audit_search``): what they cover and how they are rebuilt.

- **PostgreSQL**: ``pg_trgm`` GIN indexes on exactly the expressions :func:`apitest.audit.sql_filters.text_search`
  matches with ``ILIKE`` (path, error message, the JSON text of the headers and the query, the ``escape``
  encoding of both bodies), so a substring of three characters or more is found through the indexes. When
  the migrating role may not ``CREATE EXTENSION pg_trgm``, the migration logs a warning and creates none:
  free text then still works, by reading the rows.
- **SQLite**: ``audit_search``, an FTS5 table with the ``trigram`` tokenizer holding one row per event (its
  ``rowid``): path, error message, headers and query, one per line, and each body as text. Triggers keep it:
  an event's insert adds its row, its payload's insert rewrites it, its delete (retention) removes it. It
  serves free text without a time window (with one, the window's rows are read, as before) and only narrows
  the rows down: the exact condition is checked on those rows. SQLite text ends at a NUL byte, so the index
  misses text after the first NUL of a binary body; such text is found by a search with a time window.
  Its own copy of the text (rather than external content) because a delete through FTS5's
  external content needs the old values, which the payload's cascade has already removed by then.
  ``VACUUM`` may renumber the rows of ``audit_events``: run :func:`rebuild_sqlite` after one.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

TRGM_INDEXES = {
    "audit_events_path_trgm": ("audit_events", "path"),
    "audit_events_error_trgm": ("audit_events", "error_message"),
    "audit_payloads_request_headers_trgm": ("audit_payloads", "(request_headers::text)"),
    "audit_payloads_request_query_trgm": ("audit_payloads", "(request_query::text)"),
    "audit_payloads_response_headers_trgm": ("audit_payloads", "(response_headers::text)"),
    "audit_payloads_request_body_trgm": ("audit_payloads", "encode(request_body, 'escape')"),
    "audit_payloads_response_body_trgm": ("audit_payloads", "encode(response_body, 'escape')"),
}
MIN_LENGTH = 3  # trigrams: shorter text cannot use either index


def _values(event: str, payload: str) -> str:
    """The three documents of an event: its text fields, then each body as text, separately (SQLite text ends at
    a NUL byte, so a binary request body must not hide the response body)."""
    parts = [f"{event}.path", f"{event}.error_message"]
    parts += [f"CAST({payload}.{c} AS TEXT)" for c in ("request_headers", "request_query", "response_headers")]
    fields = " || char(10) || ".join(f"coalesce({p}, '')" for p in parts)
    return f"{fields}, CAST({payload}.request_body AS TEXT), CAST({payload}.response_body AS TEXT)"


SQLITE_TABLE = "CREATE VIRTUAL TABLE audit_search USING fts5(doc, request_body, response_body, tokenize = 'trigram')"
SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_search_event_insert AFTER INSERT ON audit_events BEGIN
        INSERT INTO audit_search(rowid, doc)
        VALUES (new.rowid, coalesce(new.path, '') || char(10) || coalesce(new.error_message, ''));
    END""",
    f"""CREATE TRIGGER audit_search_payload_insert AFTER INSERT ON audit_payloads BEGIN
        DELETE FROM audit_search WHERE rowid = (SELECT rowid FROM audit_events WHERE id = new.event_id);
        INSERT INTO audit_search(rowid, doc, request_body, response_body)
        SELECT e.rowid, {_values("e", "new")} FROM audit_events AS e WHERE e.id = new.event_id;
    END""",  # noqa: S608 (constant column names)
    """CREATE TRIGGER audit_search_event_delete AFTER DELETE ON audit_events BEGIN
        DELETE FROM audit_search WHERE rowid = old.rowid;
    END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_search_event_delete",
    "DROP TRIGGER IF EXISTS audit_search_payload_insert",
    "DROP TRIGGER IF EXISTS audit_search_event_insert",
    "DROP TABLE IF EXISTS audit_search",
]


def rebuild_sqlite(conn: Connection) -> None:
    """Fill ``audit_search`` from the rows (the migration's backfill; after a ``VACUUM``)."""
    conn.execute(text("DELETE FROM audit_search"))
    conn.execute(
        text(
            "INSERT INTO audit_search(rowid, doc, request_body, response_body) "  # noqa: S608
            f"SELECT e.rowid, {_values('e', 'p')} FROM audit_events AS e "
            "LEFT JOIN audit_payloads AS p ON p.event_id = e.id"
        )
    )


def sqlite_phrase(q: str) -> str:
    """``q`` as one FTS5 phrase (the trigram tokenizer matches it as a substring, ignoring case)."""
    return '"' + q.replace('"', '""') + '"'
