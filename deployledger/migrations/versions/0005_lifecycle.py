"""The deployment lifecycle: deploy requests, progress and undeploys (`lifecycle_events`);
the open request, charts and durations on `workload_state`; correlation and the helm
operation and exit code on `deployment_attempts`.

A store written before has outcomes only: no request to correlate, so the new state and
correlation columns start empty, and the helm operation and exit code are read from the
messages already stored.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from deployledger.domain.messages.truncation import helm_failure

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.String(256)
TS = sa.DateTime(timezone=True)
OPEN = sa.text("requested_at IS NOT NULL")

STATE_COLUMNS: list[tuple[str, sa.types.TypeEngine[Any]]] = [
    ("pool_rt_id", ID),
    ("workload_type", sa.String(16)),
    ("deployed_chart_name", ID),
    ("deployed_chart_version", ID),
    ("pending_chart_name", ID),
    ("pending_chart_version", ID),
    ("requested_at", TS),
    ("request_version", sa.Integer()),
    ("request_position", sa.BigInteger()),
    ("values_digest", sa.String(80)),
    ("last_duration", sa.Float()),
    ("undeployed_at", TS),
]
ATTEMPT_COLUMNS: list[tuple[str, sa.types.TypeEngine[Any]]] = [
    ("chart_name", ID),
    ("chart_version", ID),
    ("request_position", sa.BigInteger()),
    ("duration", sa.Float()),
    ("helm_operation", sa.Text()),
    ("exit_code", sa.Integer()),
]


def upgrade() -> None:
    with op.batch_alter_table("workload_state") as batch:
        for name, type_ in STATE_COLUMNS:
            batch.add_column(sa.Column(name, type_))
    op.create_index(
        "ix_workload_state_pool_rt_id_tenant_id", "workload_state", ["pool_rt_id", "tenant_id"]
    )
    op.create_index(
        "ix_workload_state_open_requests",
        "workload_state",
        ["requested_at"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index(
        "ix_workload_state_open_requests_by_tenant",
        "workload_state",
        ["tenant_id", "requested_at"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    with op.batch_alter_table("deployment_attempts") as batch:
        for name, type_ in ATTEMPT_COLUMNS:
            batch.add_column(sa.Column(name, type_))
    _read_helm_failures()
    op.create_table(
        "lifecycle_events",
        sa.Column("position", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("workload_rt_id", ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("reported_at", TS),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("workload_name", ID, nullable=False),
        sa.Column("message_id", ID),
        sa.Column("pool_rt_id", ID),
        sa.Column("workload_type", sa.String(16)),
        sa.Column("chart_name", ID),
        sa.Column("chart_version", ID),
        sa.Column("repository_url", sa.Text),
        sa.Column("is_reconciliation", sa.Boolean),
        sa.Column("ingress_enabled", sa.Boolean),
        sa.Column("hostname", ID),
        sa.Column("receives_cluster_secrets", sa.Boolean),
        sa.Column("secret_paths", sa.Text),
        sa.Column("overrides", sa.Text),
        sa.Column("values_digest", sa.String(80)),
        sa.Column("values_changed", sa.Boolean),
        sa.Column("message", sa.Text),
        sa.Column("message_exact", sa.LargeBinary),
        sa.Column("message_truncated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("position", name="pk_lifecycle_events"),
    )
    op.create_index(
        "ix_lifecycle_events_tenant_id_workload_rt_id_position",
        "lifecycle_events",
        ["tenant_id", "workload_rt_id", "position"],
    )
    op.create_index("ix_lifecycle_events_kind_position", "lifecycle_events", ["kind", "position"])


def _read_helm_failures() -> None:
    """The helm operation and exit code of the outcomes already stored, from their messages
    (exact bytes when the text column could not hold them)."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT position, status_message, status_message_exact FROM deployment_attempts "
            "WHERE status_message LIKE 'helm % failed with exit code %'"
        )
    ).all()
    updates = []
    for position, text, exact in rows:
        message = bytes(exact).decode("utf-8") if exact is not None else text
        operation, code = helm_failure(message)
        if operation is not None:
            updates.append({"p": position, "op": operation, "code": code})
    if updates:
        bind.execute(
            sa.text(
                "UPDATE deployment_attempts SET helm_operation = :op, exit_code = :code "
                "WHERE position = :p"
            ),
            updates,
        )


def downgrade() -> None:
    op.drop_table("lifecycle_events")
    with op.batch_alter_table("deployment_attempts") as batch:
        for name, _ in reversed(ATTEMPT_COLUMNS):
            batch.drop_column(name)
    op.drop_index("ix_workload_state_open_requests_by_tenant", table_name="workload_state")
    op.drop_index("ix_workload_state_open_requests", table_name="workload_state")
    op.drop_index("ix_workload_state_pool_rt_id_tenant_id", table_name="workload_state")
    with op.batch_alter_table("workload_state") as batch:
        for name, _ in reversed(STATE_COLUMNS):
            batch.drop_column(name)
