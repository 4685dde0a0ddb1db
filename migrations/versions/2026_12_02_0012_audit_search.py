"""Free-text search indexes: pg_trgm GIN indexes on PostgreSQL (none, with a warning, when the role may not
create the extension), an FTS5 trigram table kept by triggers on SQLite (apitest.audit.search).

Revision ID: 0012_audit_search
Revises: 0011_audit_rollups
Create Date: 2026-12-02
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy import text

revision = "0012_audit_search"
down_revision = "0011_audit_rollups"
branch_labels = None
depends_on = None

log = logging.getLogger("apitest.db")

# The indexes as this revision made them (frozen here: 0015_audit_search_combined replaces them).
INDEXES = {
    "audit_events_path_trgm": ("audit_events", "path"),
    "audit_events_error_trgm": ("audit_events", "error_message"),
    "audit_payloads_request_headers_trgm": ("audit_payloads", "(request_headers::text)"),
    "audit_payloads_request_query_trgm": ("audit_payloads", "(request_query::text)"),
    "audit_payloads_response_headers_trgm": ("audit_payloads", "(response_headers::text)"),
    "audit_payloads_request_body_trgm": ("audit_payloads", "encode(request_body, 'escape')"),
    "audit_payloads_response_body_trgm": ("audit_payloads", "encode(response_body, 'escape')"),
}


def upgrade() -> None:
    from apitest.audit import search

    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.execute(text(search.SQLITE_TABLE))
        for trigger in search.SQLITE_TRIGGERS:
            bind.execute(text(trigger))
        search.rebuild_sqlite(bind)
        return
    savepoint = bind.begin_nested()
    try:
        bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        savepoint.commit()
    except Exception as exc:
        savepoint.rollback()
        log.warning(
            "pg_trgm is not available (%s): free text over audit events will read the rows instead of an index; "
            "once a superuser has run CREATE EXTENSION pg_trgm, create the indexes listed in docs/audit.md",
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
        )
        return
    for name, (table, expression) in INDEXES.items():
        bind.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression} gin_trgm_ops)"))


def downgrade() -> None:
    from apitest.audit import search

    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in search.SQLITE_DROP:
            bind.execute(text(statement))
        return
    for name in INDEXES:
        bind.execute(text(f"DROP INDEX IF EXISTS {name}"))
