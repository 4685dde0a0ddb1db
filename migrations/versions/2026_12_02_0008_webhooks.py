"""Webhooks: subscriptions, the delivery outbox with its retry state, every attempt, and the audit poller's cursor.

Deliveries live in the database so a restart loses nothing, and several workers never send one twice:
a worker claims due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional ``UPDATE`` on SQLite)
before sending them. ``(subscription_id, event_id)`` is unique, so an audit event is enqueued once per
subscription however many workers poll the audit log.

Revision ID: 0008_webhooks
Revises: 0006_portal_sessions
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_webhooks"
down_revision = "0006_portal_sessions"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("filter", sa.Text()),
        sa.Column("event_types", JSON, nullable=False),
        sa.Column("scheme", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("created_by", sa.Text()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("webhook_subscriptions_name_idx", "webhook_subscriptions", ["name"], unique=True)
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "subscription_id",
            sa.String(36),
            sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("event_id", sa.String(36)),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("round_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS),
        sa.Column("claim_token", sa.String(36)),
        sa.Column("claimed_until", TS),
        sa.Column("last_status", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("completed_at", TS),
    )
    op.create_index(
        "webhook_deliveries_event_idx", "webhook_deliveries", ["subscription_id", "event_id"], unique=True
    )
    op.create_index("webhook_deliveries_due_idx", "webhook_deliveries", ["state", "next_attempt_at"])
    op.create_index(
        "webhook_deliveries_created_idx", "webhook_deliveries", [sa.text("created_at DESC"), sa.text("id DESC")]
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "delivery_id", sa.String(36), sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer()),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("response_headers", JSON),
        sa.Column("response_body", sa.LargeBinary()),
        sa.Column("response_truncated", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", TS),
    )
    op.create_index("webhook_attempts_delivery_idx", "webhook_attempts", ["delivery_id", "number"])
    op.create_table(
        "webhook_cursor",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhook_cursor")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
