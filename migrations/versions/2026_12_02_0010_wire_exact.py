"""Audit events: the request as it arrived (raw_target, http_version, host, header_list), credential evidence,
wire timing (duration_ms as a float with microseconds, ttfb_ms, chunk_offsets) and client_complete; the
install_secrets table (the key of credential fingerprints).

Revision ID: 0010_wire_exact
Revises: 0008_webhooks
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010_wire_exact"
down_revision = "0008_webhooks"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("duration_ms", existing_type=sa.Integer(), type_=sa.Float(), existing_nullable=False)
        batch.add_column(sa.Column("raw_target", sa.Text()))
        batch.add_column(sa.Column("http_version", sa.Text()))
        batch.add_column(sa.Column("host", sa.Text()))
        batch.add_column(sa.Column("header_list", _json()))
        batch.add_column(sa.Column("credentials", _json()))
        batch.add_column(sa.Column("ttfb_ms", sa.Float()))
        batch.add_column(sa.Column("chunk_offsets", _json()))
        batch.add_column(sa.Column("client_complete", sa.Boolean()))
    op.create_table(
        "install_secrets",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("install_secrets")
    with op.batch_alter_table("audit_events") as batch:
        for name in (
            "client_complete",
            "chunk_offsets",
            "ttfb_ms",
            "credentials",
            "header_list",
            "host",
            "http_version",
            "raw_target",
        ):
            batch.drop_column(name)
        batch.alter_column(
            "duration_ms",
            existing_type=sa.Float(),
            type_=sa.Integer(),
            existing_nullable=False,
            postgresql_using="round(duration_ms)::integer",
        )
