"""Audit events: recorded_at, the time the writer stored the row (orders the portal's live tail).

``ts`` is when a request started, but its row is written when the request ends (a stream may run for
minutes), so polling by ``ts`` misses long requests; polling by ``recorded_at`` does not.

Revision ID: 0002_audit_recorded_at
Revises: 0001_initial
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_audit_recorded_at"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("recorded_at", sa.DateTime(timezone=True)))
    op.create_index("audit_events_recorded_idx", "audit_events", ["recorded_at", "id"])


def downgrade() -> None:
    op.drop_index("audit_events_recorded_idx", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("recorded_at")
