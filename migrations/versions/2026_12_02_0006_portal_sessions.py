"""Portal sessions ended on the server: signing out records the session id until its cookie would expire,
and every portal request checks the list (one primary-key lookup).

Revision ID: 0006_portal_sessions
Revises: 0005_audit_details
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_portal_sessions"
down_revision = "0005_audit_details"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_session_revocations",
        sa.Column("sid", sa.String(64), primary_key=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("portal_session_revocations_expires_idx", "portal_session_revocations", ["expires_at"])


def downgrade() -> None:
    op.drop_table("portal_session_revocations")
