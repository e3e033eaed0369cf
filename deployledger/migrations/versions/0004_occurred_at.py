"""Attempts: occurred_at (the sender's reportedAt, else the recording time) and
message_truncated; workload times recomputed from occurred_at.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# The latest attempt of each workload, optionally only its successes or its failures.
_LATEST = (
    "(SELECT a.occurred_at FROM deployment_attempts a "
    "WHERE a.tenant_id = workload_state.tenant_id "
    "AND a.workload_rt_id = workload_state.workload_rt_id {only} "
    "ORDER BY a.position DESC LIMIT 1)"
)


def upgrade() -> None:
    with op.batch_alter_table("deployment_attempts") as batch:
        batch.add_column(sa.Column("occurred_at", TS))
        batch.add_column(
            sa.Column("message_truncated", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE deployment_attempts SET occurred_at = COALESCE(reported_at, recorded_at)")
    with op.batch_alter_table("deployment_attempts") as batch:
        batch.alter_column("occurred_at", existing_type=TS, nullable=False)
        batch.drop_index("ix_deployment_attempts_recorded_at")
        batch.create_index("ix_deployment_attempts_occurred_at", ["occurred_at"])
    _recompute_times("a.occurred_at")


def _recompute_times(column: str) -> None:
    # TRUE and FALSE are keywords on both backends (SQLite since 3.23).
    only = {
        "last_attempt_at": "",
        "last_success_at": "AND a.success = TRUE",
        "last_failure_at": "AND a.success = FALSE",
    }
    op.execute(
        "UPDATE workload_state SET "
        + ", ".join(
            f"{name} = {_LATEST.format(only=where).replace('a.occurred_at', column)}"
            for name, where in only.items()
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("deployment_attempts") as batch:
        batch.drop_index("ix_deployment_attempts_occurred_at")
        batch.create_index("ix_deployment_attempts_recorded_at", ["recorded_at"])
        batch.drop_column("message_truncated")
        batch.drop_column("occurred_at")
    _recompute_times("a.recorded_at")
