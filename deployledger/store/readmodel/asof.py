"""The fleet at a past moment, from the history rows (see `deployledger.projections.history`).

The state of a workload as of T is its history row with the greatest (effective time,
position) at or before T: one backward seek in `ix_workload_history_as_of`. The fleet query
finds its candidate workloads first (a pool's from `workload_pools`, every pool the workload
was ever in; else the tenant's or all from `workload_state`), seeks once per candidate
(LATERAL on PostgreSQL, a correlated subquery on SQLite), then filters by the state and pool
as they were at T. Its cost grows with the candidates, not with their history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, and_, or_, select, true

from deployledger.domain.workload.records import WorkloadState
from deployledger.domain.workload.state import DeploymentState
from deployledger.projections.rows import state_from_row
from deployledger.store.readmodel.tables import workload_history, workload_pools, workload_state

h = workload_history


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC)


def state_at(
    conn: Connection, tenant_id: str, workload_rt_id: str, at: datetime
) -> WorkloadState | None:
    """One workload's state as of `at`; None if it had no event by then."""
    stmt = (
        select(h)
        .where(
            h.c.tenant_id == tenant_id,
            h.c.workload_rt_id == workload_rt_id,
            h.c.effective_at <= _utc(at),
        )
        .order_by(h.c.effective_at.desc(), h.c.position.desc())
        .limit(1)
    )
    row = conn.execute(stmt).first()
    return None if row is None else state_from_row(row._mapping)


def fleet_at(
    conn: Connection,
    *,
    at: datetime,
    tenant_ids: Sequence[str] | None = None,
    pool_name: str | None = None,
    state: DeploymentState | None = None,
) -> list[WorkloadState]:
    """Every workload's state as of `at`, filtered, by tenant then runtime id."""
    if pool_name is not None:
        source = workload_pools
        candidates = select(source.c.tenant_id, source.c.workload_rt_id).where(
            source.c.pool == pool_name
        )
    else:
        source = workload_state
        candidates = select(source.c.tenant_id, source.c.workload_rt_id)
    if tenant_ids is not None:
        candidates = candidates.where(source.c.tenant_id.in_(list(tenant_ids)))
    cand = candidates.subquery("candidates")
    seek = [
        h.c.tenant_id == cand.c.tenant_id,
        h.c.workload_rt_id == cand.c.workload_rt_id,
        h.c.effective_at <= _utc(at),
    ]
    order = (h.c.effective_at.desc(), h.c.position.desc())
    if conn.dialect.name == "postgresql":
        latest = select(h).where(*seek).order_by(*order).limit(1).lateral("latest")
        stmt = select(latest).select_from(cand.join(latest, true()))
        cols = latest.c
    else:
        position = select(h.c.position).where(*seek).order_by(*order).limit(1).scalar_subquery()
        found = select(position.label("position")).select_from(cand).subquery("found")
        stmt = select(h).select_from(found.join(h, h.c.position == found.c.position))
        cols = h.c
    where: list[ColumnElement[bool]] = []
    if pool_name is not None:
        where.append(or_(cols.pool_name == pool_name, cols.pool_rt_id == pool_name))
    if state is not None:
        where.append(cols.state == int(state))
    stmt = stmt.where(and_(True, *where)).order_by(cols.tenant_id, cols.workload_rt_id)
    return [state_from_row(row._mapping) for row in conn.execute(stmt)]
