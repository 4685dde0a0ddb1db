"""Saved views of the portal's audit list: a name and a filter query string, per portal identity.

Revision ID: 0013_saved_views
Revises: 0010_wire_exact
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_saved_views"
down_revision = "0010_wire_exact"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_saved_views",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("portal_saved_views_owner_name_idx", "portal_saved_views", ["owner", "name"], unique=True)


def downgrade() -> None:
    op.drop_table("portal_saved_views")
