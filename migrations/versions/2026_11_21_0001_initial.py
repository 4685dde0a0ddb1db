"""Initial schema: api_keys, audit_events, audit_payloads, idempotency_keys.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("created_by", sa.Text()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS),
        sa.Column("last_used_at", TS),
        sa.Column("revoked_at", TS),
    )
    op.create_index("api_keys_digest_idx", "api_keys", ["digest"], unique=True)
    op.create_index(
        "api_keys_active_name_idx",
        "api_keys",
        ["name"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )

    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("ts", TS, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Text()),
        sa.Column("session_id", sa.Text()),
        sa.Column("user_subject", sa.Text()),
        sa.Column("user_email", sa.Text()),
        sa.Column("auth_type", sa.Text()),
        sa.Column("api_key_name", sa.Text()),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("route_name", sa.Text()),
        sa.Column("endpoint_group", sa.Text()),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("bytes_in", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("bytes_out", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("error_message", sa.Text()),
        sa.Column("error_category", sa.Text()),
        sa.Column("remote_addr", sa.Text()),
        sa.Column("user_agent", sa.Text()),
        sa.Column("source", sa.Text(), nullable=False, server_default="wire"),
    )
    op.create_index("audit_events_ts_idx", "audit_events", [sa.text("ts DESC"), sa.text("id DESC")])
    for name, column in [
        ("audit_events_route_idx", "route_name"),
        ("audit_events_path_idx", "path"),
        ("audit_events_user_idx", "user_subject"),
        ("audit_events_key_idx", "api_key_name"),
        ("audit_events_session_idx", "session_id"),
        ("audit_events_status_idx", "status"),
        ("audit_events_auth_type_idx", "auth_type"),
    ]:
        op.create_index(name, "audit_events", [column, sa.text("ts DESC")])
    op.create_index("audit_events_request_id_idx", "audit_events", ["request_id"])

    op.create_table(
        "audit_payloads",
        sa.Column("event_id", sa.String(36), sa.ForeignKey("audit_events.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("request_headers", JSON),
        sa.Column("request_query", JSON),
        sa.Column("request_content_type", sa.Text()),
        sa.Column("request_body", sa.LargeBinary()),
        sa.Column("request_size_bytes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("request_truncated", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("request_remote_addr", sa.Text()),
        sa.Column("response_headers", JSON),
        sa.Column("response_content_type", sa.Text()),
        sa.Column("response_body", sa.LargeBinary()),
        sa.Column("response_size_bytes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("response_truncated", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("replayed_from", sa.String(36), sa.ForeignKey("audit_events.id", ondelete="SET NULL")),
        sa.Column("captured_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index(
        "audit_payloads_replayed_from_idx",
        "audit_payloads",
        ["replayed_from"],
        sqlite_where=sa.text("replayed_from IS NOT NULL"),
        postgresql_where=sa.text("replayed_from IS NOT NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "audit_payloads_request_headers_gin",
            "audit_payloads",
            ["request_headers"],
            postgresql_using="gin",
            postgresql_ops={"request_headers": "jsonb_path_ops"},
        )
        op.create_index(
            "audit_payloads_response_headers_gin",
            "audit_payloads",
            ["response_headers"],
            postgresql_using="gin",
            postgresql_ops={"response_headers": "jsonb_path_ops"},
        )

    op.create_table(
        "idempotency_keys",
        sa.Column("owner", sa.Text(), primary_key=True),
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer()),
        sa.Column("response_headers", JSON),
        sa.Column("response_body", sa.LargeBinary()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_index("idempotency_keys_expires_idx", "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("audit_payloads_response_headers_gin", table_name="audit_payloads")
        op.drop_index("audit_payloads_request_headers_gin", table_name="audit_payloads")
    op.drop_table("audit_payloads")
    op.drop_table("audit_events")
    op.drop_table("api_keys")
