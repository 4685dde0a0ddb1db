"""Rate-limit counters shared by every worker: one fixed window per (route group or explicit limit, caller).

A request upserts its counter in one statement (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``), which
either starts a new window or adds one to the current one, so workers never disagree about a count.

Revision ID: 0003_rate_limit_counters
Revises: 0002_audit_recorded_at
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_rate_limit_counters"
down_revision = "0002_audit_recorded_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("reset_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("rate_limit_counters_reset_idx", "rate_limit_counters", ["reset_at_ms"])


def downgrade() -> None:
    op.drop_table("rate_limit_counters")
