"""Audit events: details, a JSON object of per-route facts (an attempt number, a WebSocket session's
counters, a client certificate) that do not deserve a column of their own.

Revision ID: 0005_audit_details
Revises: 0004_portal_audit_indexes
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_audit_details"
down_revision = "0004_portal_audit_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("details")
