"""Read-model queries of the delivery metrics (`stats`) and of the full audit export.

The metrics stream two sets of outcome rows into `deployledger.domain.insights.stats.fold`: the
failures of each run still open at `since` (those after the workload's last success before
it), and the outcomes of the period, both in position order; memory grows with the number
of workloads and of measured durations, not with the rows read.

`audit_iter` walks the audit trail in keyset pages of `queries.audit`, so every filter of
`AuditFilter` applies to it exactly as to a page (the CSV export: `queries_export`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    func,
    select,
)

from deployledger.domain.arguments import MAX_PAGE
from deployledger.domain.auditfilter import AuditFilter
from deployledger.domain.insights.stats import DeliveryStats, OutcomeRow, fold
from deployledger.domain.workload.records import Attempt, Overdue
from deployledger.projections.rows import aware
from deployledger.store.readmodel import queries
from deployledger.store.readmodel.tables import deployment_attempts

EXPORT_PAGE = MAX_PAGE
STREAM_ROWS = 5000
OVERDUE_AFTER = timedelta(minutes=15)

_COLUMNS = (
    "position",
    "tenant_id",
    "workload_rt_id",
    "workload_name",
    "pool_name",
    "chart_name",
    "occurred_at",
    "success",
    "duration",
)


def _rows(conn: Connection, stmt: Select[Any]) -> Iterator[OutcomeRow]:
    for r in conn.execution_options(yield_per=STREAM_ROWS).execute(stmt):
        occurred = aware(r.occurred_at)
        assert occurred is not None
        yield OutcomeRow(
            r.position,
            r.tenant_id,
            r.workload_rt_id,
            r.workload_name,
            r.pool_name,
            r.chart_name,
            occurred,
            bool(r.success),
            r.duration,
        )


def _scope(tenants: Sequence[str] | None, pool: str | None) -> list[ColumnElement[bool]]:
    c = deployment_attempts.c
    where: list[ColumnElement[bool]] = []
    if tenants is not None:
        where.append(c.tenant_id.in_(list(tenants)))
    if pool is not None:
        where.append(c.pool_name == pool)
    return where


def _open_runs(
    conn: Connection, since: datetime, tenants: Sequence[str] | None, pool: str | None
) -> Iterator[OutcomeRow]:
    """The failures before `since` that no success before `since` followed (per workload)."""
    c = deployment_attempts.c
    last_ok = (
        select(c.tenant_id, c.workload_rt_id, func.max(c.position).label("position"))
        .where(c.occurred_at < since, c.success.is_(True), *_scope(tenants, pool))
        .group_by(c.tenant_id, c.workload_rt_id)
        .subquery("last_ok")
    )
    a = deployment_attempts.alias("a")
    joined = a.outerjoin(
        last_ok,
        and_(
            last_ok.c.tenant_id == a.c.tenant_id,
            last_ok.c.workload_rt_id == a.c.workload_rt_id,
        ),
    )
    where: list[ColumnElement[bool]] = [
        a.c.occurred_at < since,
        a.c.success.is_(False),
        (last_ok.c.position.is_(None)) | (a.c.position > last_ok.c.position),
    ]
    if tenants is not None:
        where.append(a.c.tenant_id.in_(list(tenants)))
    if pool is not None:
        where.append(a.c.pool_name == pool)
    stmt = (
        select(*(a.c[name] for name in _COLUMNS))
        .select_from(joined)
        .where(and_(*where))
        .order_by(a.c.position)
    )
    return _rows(conn, stmt)


def overdue_key(by: str, o: Overdue) -> tuple[str | None, str | None]:
    """The group (key, name) of an overdue deploy."""
    if by == "tenant":
        return o.tenant_id, None
    if by == "pool":
        return o.pool_name or o.pool_rt_id, None
    if by == "workload":
        return f"{o.tenant_id}/{o.workload_rt_id}", o.workload_name
    return o.chart_name, None


def stats(
    engine: Engine,
    *,
    by: str,
    since: datetime,
    until: datetime,
    tenants: Sequence[str] | None,
    pool: str | None,
    now: datetime | None = None,
) -> list[DeliveryStats]:
    """The delivery metrics per group of outcomes with `since <= occurred_at < until`."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    c = deployment_attempts.c
    period = [c.occurred_at >= since, c.occurred_at < until, *_scope(tenants, pool)]
    stmt = select(*(c[name] for name in _COLUMNS)).where(and_(*period)).order_by(c.position)
    # `fold` reads `before` to its end before `during`: one connection serves both streams.
    with engine.connect() as conn:
        late: list[Overdue] = []
        for tenant in [None] if tenants is None else list(dict.fromkeys(tenants)):
            late += queries.overdue(
                conn, older_than=OVERDUE_AFTER, tenant_id=tenant, pool=pool, now=now
            )
        return fold(
            by=by,
            since=since,
            until=until,
            before=_open_runs(conn, since, tenants, pool),
            during=_rows(conn, stmt),
            overdue=[overdue_key(by, o) for o in late],
        )


def audit_iter(engine: Engine, query: AuditFilter, page: int = EXPORT_PAGE) -> Iterator[Attempt]:
    """Every attempt matching `query`, newest first, in keyset pages of `page` rows (one
    short read each): rows recorded after the first page are not included."""
    cursor: str | None = None
    while True:
        with engine.connect() as conn:
            found = queries.audit(conn, query, limit=page, cursor=cursor)
        yield from found.items
        if found.next_cursor is None:
            return
        cursor = found.next_cursor
