"""Read-model queries (SQLAlchemy 2 Core): the fleet table and the audit trail.

Filter values are always bound parameters, never SQL text. Audit results come
newest first by global position, with keyset pagination: the cursor names the
last position returned, so the next page continues exactly there even while new
reports arrive.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Table, and_, func, or_, select

from deployledger.domain.arguments import MAX_PAGE, check_limit
from deployledger.domain.auditfilter import AuditFilter
from deployledger.domain.workload.records import AuditPage, Overdue, WorkloadState
from deployledger.domain.workload.state import DeploymentState
from deployledger.errors import InvalidQuery
from deployledger.projections.rows import attempt_from_row, overdue_from_row, state_from_row
from deployledger.store.readmodel.tables import deployment_attempts, workload_state


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"p:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        position = int(value)
        if kind != "p" or not 0 <= position < 2**63:
            raise ValueError(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidQuery(
            f"invalid cursor {cursor!r}: pass the value a previous page gave", "cursor"
        ) from None
    return position


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise InvalidQuery(f"timestamp {value.isoformat()} needs a time zone")
    return value.astimezone(UTC)


def fleet(
    conn: Connection,
    *,
    tenant_id: str | None = None,
    pool_name: str | None = None,
    state: DeploymentState | None = None,
    table: Table = workload_state,
) -> list[WorkloadState]:
    """Every workload's current state, filtered, ordered by tenant then runtime id."""
    c = table.c
    where: list[ColumnElement[bool]] = []
    if tenant_id is not None:
        where.append(c.tenant_id == tenant_id)
    if pool_name is not None:  # the pool's name, or its runtime id (deploy requests)
        where.append(or_(c.pool_name == pool_name, c.pool_rt_id == pool_name))
    if state is not None:
        where.append(c.state == int(state))
    stmt = select(table).where(and_(True, *where)).order_by(c.tenant_id, c.workload_rt_id)
    return [state_from_row(row._mapping) for row in conn.execute(stmt)]


def overdue(
    conn: Connection,
    *,
    older_than: timedelta,
    tenant_id: str | None = None,
    pool: str | None = None,
    now: datetime | None = None,
    table: Table = workload_state,
) -> list[Overdue]:
    """Workloads whose open deploy request was made before `now - older_than`, oldest
    first. The open-requests index holds only workloads with a request open, so this reads
    the overdue set, not the fleet. `pool` matches the pool name or the pool runtime id."""
    now = now or datetime.now(UTC)
    c = table.c
    where: list[ColumnElement[bool]] = [
        c.requested_at.is_not(None),
        c.requested_at < (now - older_than),
    ]
    if tenant_id is not None:
        where.append(c.tenant_id == tenant_id)
    if pool is not None:
        where.append(or_(c.pool_name == pool, c.pool_rt_id == pool))
    stmt = select(table).where(and_(*where)).order_by(c.requested_at, c.tenant_id, c.workload_rt_id)
    return [overdue_from_row(row._mapping, now) for row in conn.execute(stmt)]


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def audit_where(
    conn: Connection, query: AuditFilter, table: Table = deployment_attempts
) -> list[ColumnElement[bool]]:
    """The conditions of `query` on the attempts table (bound parameters only)."""
    c = table.c
    where: list[ColumnElement[bool]] = []
    for column, wanted in ((c.tenant_id, query.tenants), (c.pool_name, query.pools)):
        if wanted is not None and len(wanted) == 1:
            where.append(column == wanted[0])
        elif wanted is not None:
            where.append(column.in_(list(wanted)))
    if query.workload_name is not None:
        where.append(c.workload_name == query.workload_name)
    if query.workload_rt_id is not None:
        where.append(c.workload_rt_id == query.workload_rt_id)
    if query.since is not None:
        where.append(c.occurred_at >= _utc(query.since))
    if query.until is not None:
        where.append(c.occurred_at < _utc(query.until))
    if query.success is not None:
        where.append(c.success == query.success)
    if query.category is not None:
        where.append(c.category == query.category)
    if query.fingerprint is not None:
        where.append(c.fingerprint == query.fingerprint)
    if query.grep:
        needle = query.grep.replace("\x00", "\ufffd")
        if conn.dialect.name == "postgresql":
            where.append(c.status_message.ilike(_like_pattern(needle), escape="\\"))
        else:
            # SQLite's LIKE folds ASCII only; casefold in Python for full Unicode.
            where.append(func.dl_contains_ci(c.status_message, needle) == 1)
    return where


def audit(
    conn: Connection,
    query: AuditFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
    table: Table = deployment_attempts,
) -> AuditPage:
    """Attempts matching `query`, newest first; at most `limit`, after `cursor`."""
    check_limit(limit, highest=MAX_PAGE)
    c = table.c
    where = audit_where(conn, query, table)
    if cursor is not None:
        where.append(c.position < decode_cursor(cursor))
    stmt = select(table).where(and_(True, *where)).order_by(c.position.desc()).limit(limit + 1)
    rows = [row._mapping for row in conn.execute(stmt)]
    items = [attempt_from_row(row) for row in rows[:limit]]
    next_cursor = encode_cursor(items[-1].position) if len(rows) > limit else None
    return AuditPage(items, next_cursor)


def contains_ci(haystack: str | None, needle: str | None) -> int:
    """SQLite function `dl_contains_ci`: case-insensitive (Unicode casefold) substring."""
    if haystack is None or needle is None:
        return 0
    return int(needle.casefold() in haystack.casefold())
