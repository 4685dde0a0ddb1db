"""The free-text search indexes: what they cover and how they are rebuilt.

- **PostgreSQL** (migration ``0015_audit_search_combined``): one ``pg_trgm`` GIN index per table, on the
  table's *document*: its searched fields as text, one per line (:data:`EVENT_FIELDS`, :data:`PAYLOAD_FIELDS`).
  :func:`apitest.audit.sql_filters.text_search` asks the index for ``document ILIKE pattern`` and checks each
  field on its own as well (a match spanning the line between two fields is not a match), so a substring of
  three characters or more is found through the indexes. One index per table rather than one per field
  (migration ``0012_audit_search`` made seven): each stored row costs PostgreSQL 14 to 31 % less CPU
  (docs/audit.md).
  When the migrating role may not ``CREATE EXTENSION pg_trgm``, the migrations log a warning and create no
  index: free text then still works, by reading the rows.
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

# Each searched field as text, in document order; ``{t}`` is the table's qualifier (empty in the index).
# Every part is IMMUTABLE (text || text, coalesce, jsonb::text, encode), as an index expression must be.
EVENT_FIELDS = ("{t}path", "coalesce({t}error_message, '')")  # path is NOT NULL
PAYLOAD_FIELDS = (
    "coalesce({t}request_headers::text, '')",
    "coalesce({t}request_query::text, '')",
    "coalesce({t}response_headers::text, '')",
    "coalesce(encode({t}request_body, 'escape'), '')",
    "coalesce(encode({t}response_body, 'escape'), '')",
)
SEPARATOR = " || e'\\n' || "  # no field's match may cross it: the query checks each field on its own too
SEARCH_INDEXES = {
    "audit_events_search_trgm": ("audit_events", EVENT_FIELDS),
    "audit_payloads_search_trgm": ("audit_payloads", PAYLOAD_FIELDS),
}
MIN_LENGTH = 3  # trigrams: shorter text cannot use either index


def document(fields: tuple[str, ...], qualifier: str = "") -> str:
    """The SQL of a table's document over ``fields``: the index's expression without ``qualifier``, the
    query's with it (the planner matches the two as expressions, qualifier aside)."""
    prefix = f"{qualifier}." if qualifier else ""
    return SEPARATOR.join(field.format(t=prefix) for field in fields)


def create_index(name: str) -> str:
    """The ``CREATE INDEX`` of one of :data:`SEARCH_INDEXES` (migration 0015 runs it; docs/audit.md shows it)."""
    table, fields = SEARCH_INDEXES[name]
    return f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (({document(fields)}) gin_trgm_ops)"


def escape_encoding(data: bytes) -> str:
    """``data`` as PostgreSQL's ``encode(data, 'escape')`` writes it: a NUL or a byte of 128 or more as a
    backslash and three octal digits, a backslash doubled, every other byte as itself. Byte by byte, so
    bytes that contain ``data`` encode to text that contains this."""
    parts = []
    for byte in data:
        if byte == 0 or byte >= 0x80:
            parts.append(f"\\{byte:03o}")
        elif byte == 0x5C:
            parts.append("\\\\")
        else:
            parts.append(chr(byte))
    return "".join(parts)


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
