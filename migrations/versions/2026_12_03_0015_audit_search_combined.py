"""One pg_trgm index per table instead of one per searched field: ``audit_events_search_trgm`` over path and
error message, ``audit_payloads_search_trgm`` over headers, query and both bodies, each over the table's
fields joined by newlines (apitest.audit.search). The writer's COPY updates two GIN indexes per event instead
of seven (the PostgreSQL CPU per stored row measured with each is in docs/audit.md, "Free-text search indexes").

PostgreSQL only, and only when ``pg_trgm`` is installed (``0012_audit_search`` creates no index when the role
may not create the extension; this revision then warns in the same way and creates none). SQLite keeps its
FTS5 table. Building the two indexes reads every event and payload and blocks writes to both tables meanwhile.

Revision ID: 0015_audit_search_combined
Revises: 0014_audit_duration_index
Create Date: 2026-12-03
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy import Connection, text

revision = "0015_audit_search_combined"
down_revision = "0014_audit_duration_index"
branch_labels = None
depends_on = None

log = logging.getLogger("apitest.db")

# The indexes of 0012_audit_search that this revision replaces (and its downgrade restores).
PER_FIELD = {
    "audit_events_path_trgm": ("audit_events", "path"),
    "audit_events_error_trgm": ("audit_events", "error_message"),
    "audit_payloads_request_headers_trgm": ("audit_payloads", "(request_headers::text)"),
    "audit_payloads_request_query_trgm": ("audit_payloads", "(request_query::text)"),
    "audit_payloads_response_headers_trgm": ("audit_payloads", "(response_headers::text)"),
    "audit_payloads_request_body_trgm": ("audit_payloads", "encode(request_body, 'escape')"),
    "audit_payloads_response_body_trgm": ("audit_payloads", "encode(response_body, 'escape')"),
}


def _trgm_installed(bind: Connection) -> bool:
    return bind.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first() is not None


def upgrade() -> None:
    from apitest.audit import search

    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if not _trgm_installed(bind):
        log.warning(
            "pg_trgm is not available (the extension is not installed): free text over audit events will read "
            "the rows instead of an index; once a superuser has run CREATE EXTENSION pg_trgm, create the indexes "
            "listed in docs/audit.md"
        )
        return
    for name in PER_FIELD:
        bind.execute(text(f"DROP INDEX IF EXISTS {name}"))
    for name in search.SEARCH_INDEXES:
        bind.execute(text(search.create_index(name)))


def downgrade() -> None:
    from apitest.audit import search

    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not _trgm_installed(bind):
        return
    for name in search.SEARCH_INDEXES:
        bind.execute(text(f"DROP INDEX IF EXISTS {name}"))
    for name, (table, expression) in PER_FIELD.items():
        bind.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression} gin_trgm_ops)"))
