"""The tamper-evident log: `log_state` (the Merkle tree's compact frontier), `log_leaves`
(each event's leaf hash) and `log_checkpoints` (checkpoint notes).

Nothing is backfilled here: the projection runner computes the log from the first event
on its next batch, and `checkpoint`/`verify` bring it up to date before they read it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("frontier", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_log_state"),
    )
    op.create_table(
        "log_leaves",
        sa.Column("leaf_index", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name="pk_log_leaves"),
        sa.UniqueConstraint("position", name="uq_log_leaves_position"),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("checkpoint_id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("origin", sa.String(256), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("checkpoint_id", name="pk_log_checkpoints"),
    )


def downgrade() -> None:
    op.drop_table("log_checkpoints")
    op.drop_table("log_leaves")
    op.drop_table("log_state")
