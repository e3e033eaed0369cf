"""Read model: workload_state, deployment_attempts, projection_tracking.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(256)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workload_state",
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("workload_rt_id", ID, nullable=False),
        sa.Column("workload_id", sa.String(32), nullable=False),
        sa.Column("workload_name", ID),
        sa.Column("pool_name", ID),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("status_message", sa.Text),
        sa.Column("status_message_exact", sa.LargeBinary),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("last_attempt_at", TS),
        sa.Column("last_success_at", TS),
        sa.Column("last_failure_at", TS),
        sa.Column("last_position", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "workload_rt_id", name="pk_workload_state"),
        sa.UniqueConstraint("workload_id", name="uq_workload_state_workload_id"),
    )
    op.create_index("ix_workload_state_state_tenant_id", "workload_state", ["state", "tenant_id"])
    op.create_index(
        "ix_workload_state_pool_name_tenant_id", "workload_state", ["pool_name", "tenant_id"]
    )
    op.create_table(
        "deployment_attempts",
        sa.Column("position", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("workload_rt_id", ID, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("reported_at", TS),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("status_message", sa.Text),
        sa.Column("status_message_exact", sa.LargeBinary),
        sa.Column("workload_name", ID, nullable=False),
        sa.Column("pool_name", ID),
        sa.Column("message_id", ID),
        sa.PrimaryKeyConstraint("position", name="pk_deployment_attempts"),
    )
    for columns in (
        ["tenant_id", "workload_rt_id", "position"],
        ["tenant_id", "success", "position"],
        ["tenant_id", "position"],
        ["pool_name", "position"],
        ["workload_name", "position"],
        ["workload_rt_id", "position"],
        ["success", "position"],
        ["recorded_at"],
    ):
        name = "ix_deployment_attempts_" + "_".join(columns)
        op.create_index(name, "deployment_attempts", columns)
    op.create_table(
        "projection_tracking",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_projection_tracking"),
    )


def downgrade() -> None:
    op.drop_table("projection_tracking")
    op.drop_table("deployment_attempts")
    op.drop_table("workload_state")
