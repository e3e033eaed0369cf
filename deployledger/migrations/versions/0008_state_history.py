"""The fleet at a past moment: `workload_history` (a workload's state after each event,
with its effective time), `workload_pools` (every pool a workload was ever in), and
`workload_state.effective_at`.

A store written before gets its history by folding the outcome and lifecycle rows it
already holds, in position order, with the same fold and effective-time rule as the
projection (`deployledger.projections.history`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from deployledger.domain.workload.fold import registered
from deployledger.projections.history import advance, history_row, memberships
from deployledger.projections.project import fold_lifecycle_row, fold_row

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.String(256)
TS = sa.DateTime(timezone=True)
WINDOW = 50_000  # positions read at a time


def upgrade() -> None:
    with op.batch_alter_table("workload_state") as batch:
        batch.add_column(sa.Column("effective_at", TS))
    history = op.create_table(
        "workload_history",
        sa.Column("position", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("workload_rt_id", ID, nullable=False),
        sa.Column("effective_at", TS, nullable=False),
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
        sa.Column("pool_rt_id", ID),
        sa.Column("workload_type", sa.String(16)),
        sa.Column("deployed_chart_name", ID),
        sa.Column("deployed_chart_version", ID),
        sa.Column("pending_chart_name", ID),
        sa.Column("pending_chart_version", ID),
        sa.Column("requested_at", TS),
        sa.Column("last_duration", sa.Float),
        sa.Column("undeployed_at", TS),
        sa.PrimaryKeyConstraint("position", name="pk_workload_history"),
    )
    pools = op.create_table(
        "workload_pools",
        sa.Column("pool", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("workload_rt_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("pool", "tenant_id", "workload_rt_id", name="pk_workload_pools"),
    )
    _backfill(history, pools)
    op.create_index(
        "ix_workload_history_as_of",
        "workload_history",
        ["tenant_id", "workload_rt_id", "effective_at", "position"],
    )


def _aware(row: dict[str, Any]) -> dict[str, Any]:
    # SQLite hands stored timestamps back without a zone: they are UTC.
    return {
        k: v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v
        for k, v in row.items()
    }


def _backfill(history: sa.Table, pools: sa.Table) -> None:
    """Fold the stored outcome and lifecycle rows, a window of positions at a time."""
    bind = op.get_bind()
    meta = sa.MetaData()
    attempts = sa.Table("deployment_attempts", meta, autoload_with=bind)
    lifecycle = sa.Table("lifecycle_events", meta, autoload_with=bind)
    top = max(
        bind.execute(sa.select(sa.func.coalesce(sa.func.max(t.c.position), 0))).scalar_one()
        for t in (attempts, lifecycle)
    )
    states: dict[tuple[str, str], dict[str, Any]] = {}
    members: set[tuple[str, str, str]] = set()
    for low in range(0, top, WINDOW):
        rows: list[tuple[int, bool, dict[str, Any]]] = []
        for table, is_attempt in ((attempts, True), (lifecycle, False)):
            found = bind.execute(
                sa.select(table).where(table.c.position > low, table.c.position <= low + WINDOW)
            )
            rows += [(r.position, is_attempt, _aware(dict(r._mapping))) for r in found]
        steps = []
        for position, is_attempt, row in sorted(rows, key=lambda r: r[0]):
            key = (row["tenant_id"], row["workload_rt_id"])
            state = states.get(key)
            if state is None:
                state = {"tenant_id": key[0], "workload_rt_id": key[1], **registered()}
                state.update(status_message_exact=None, request_position=None)
                states[key] = state
            if is_attempt:
                fold_row(state, row)
            else:
                fold_lifecycle_row(state, row, 0)
            advance(state, row["occurred_at"])
            step = history_row(state, position)
            steps.append(step)
            members |= memberships(step)
        if steps:
            bind.execute(history.insert(), steps)
    if members:
        bind.execute(
            pools.insert(),
            [{"pool": p, "tenant_id": t, "workload_rt_id": w} for p, t, w in sorted(members)],
        )
    if states:
        bind.execute(
            sa.text(
                "UPDATE workload_state SET effective_at = :at "
                "WHERE tenant_id = :t AND workload_rt_id = :w"
            ).bindparams(sa.bindparam("at", type_=TS)),
            [{"at": s["effective_at"], "t": t, "w": w} for (t, w), s in states.items()],
        )


def downgrade() -> None:
    op.drop_index("ix_workload_history_as_of", table_name="workload_history")
    op.drop_table("workload_pools")
    op.drop_table("workload_history")
    with op.batch_alter_table("workload_state") as batch:
        batch.drop_column("effective_at")
