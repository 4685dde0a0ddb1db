"""An index on audit event durations (then time), so the dashboard's exact percentiles read one latency
bucket's durations in the window instead of ranking every row (apitest.audit.rollup_reads).

Building it reads every audit event once and blocks writes to ``audit_events`` meanwhile (seconds per million
rows).

Revision ID: 0014_audit_duration_index
Revises: 0013_saved_views
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0014_audit_duration_index"
down_revision = "0013_saved_views"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("audit_events_duration_idx", "audit_events", ["duration_ms", "ts"])


def downgrade() -> None:
    op.drop_index("audit_events_duration_idx", table_name="audit_events")
