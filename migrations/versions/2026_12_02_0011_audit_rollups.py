"""Audit rollups: ``audit_rollup_minute``, per-minute, per-hour and per-day sums of audit events by the
dimensions the dashboard shows (apitest.audit.rollups), counted from the rows that already exist.

The backfill reads every audit event once (about 3 minutes per million rows on a loaded 2-core host); the
writer keeps the table current from then on.

Revision ID: 0011_audit_rollups
Revises: 0010_wire_exact
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_audit_rollups"
down_revision = "0010_wire_exact"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_rollup_minute",
        sa.Column("dimension", sa.Text(), primary_key=True),
        sa.Column("span", sa.Integer(), primary_key=True),
        sa.Column("bucket", sa.BigInteger(), primary_key=True),
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("duration_sum", sa.Float(), nullable=False),
        sa.Column("error_duration_sum", sa.Float(), nullable=False),
        sa.Column("duration_max", sa.Float(), nullable=False),
    )
    from apitest.audit.rollups import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table("audit_rollup_minute")
