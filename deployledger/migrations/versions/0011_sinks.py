"""Notification sinks (`sinks`) and their dead letters (`sink_dead_letters`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sinks",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text),
        sa.Column("filter", sa.Text, nullable=False),
        sa.Column("spec", sa.String(16), nullable=False),
        sa.Column("slack_text", sa.Boolean, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("backoff", sa.Float, nullable=False),
        sa.Column("timeout", sa.Float, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered", sa.BigInteger, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("next_try_at", TS),
        sa.PrimaryKeyConstraint("name", name="pk_sinks"),
    )
    op.create_table(
        "sink_dead_letters",
        sa.Column("sink", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.String(256), nullable=False),
        sa.Column("workload_rt_id", sa.String(256), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("dead_at", TS, nullable=False),
        sa.Column("retry", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("sink", "position", name="pk_sink_dead_letters"),
    )


def downgrade() -> None:
    op.drop_table("sink_dead_letters")
    op.drop_table("sinks")
