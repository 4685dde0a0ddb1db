"""Audit indexes for the portal's filters: source, error category, endpoint group, user email.

The audit list pages newest first (``ORDER BY ts DESC, id DESC``); a filter on an unindexed column that
matches few rows (``source=replay``, one error category) makes that a walk through most of the table.
Each index leads with the filtered column and carries the sort, so such a page is an index range scan.
``user_email`` completes the three columns of the ``caller`` filter (subject, key name, email), which
the database can then answer with a bitmap OR instead of a scan.

Revision ID: 0004_portal_audit_indexes
Revises: 0003_rate_limit_counters
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_portal_audit_indexes"
down_revision = "0003_rate_limit_counters"
branch_labels = None
depends_on = None

INDEXES = [
    ("audit_events_source_idx", "source"),
    ("audit_events_category_idx", "error_category"),
    ("audit_events_group_idx", "endpoint_group"),
    ("audit_events_email_idx", "user_email"),
]


def upgrade() -> None:
    for name, column in INDEXES:
        op.create_index(name, "audit_events", [column, sa.text("ts DESC"), sa.text("id DESC")])


def downgrade() -> None:
    for name, _ in reversed(INDEXES):
        op.drop_index(name, table_name="audit_events")
