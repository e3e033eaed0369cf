"""Read-model queries of failure insights: fingerprint groups, and reclassifying the stored
categories and fingerprints when the rules change.

Groups are counted in the database, one row per (fingerprint, workload); the per-group
totals, tenants and pools are summed from those rows here. "Still failing" comes from one
index seek per workload currently in Error: its latest outcome's fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    func,
    insert,
    select,
    update,
)

from deployledger.domain.insights.failure_groups import FailureGroup, ReclassifyResult
from deployledger.domain.insights.failures import RULES_VERSION, categorize, fingerprint, template
from deployledger.domain.workload.state import DeploymentState
from deployledger.projections.project import decode_message
from deployledger.projections.rows import aware
from deployledger.store.readmodel.tables import deployment_attempts, failure_rules, workload_state

RULES_ROW = "failures"
BATCH = 5000


def tenant_filter(column: Any, tenant_id: str | Sequence[str] | None) -> ColumnElement[bool]:
    """One tenant, or any of several (an empty sequence matches nothing)."""
    if tenant_id is None:
        return and_(True)
    if isinstance(tenant_id, str):
        return column == tenant_id  # type: ignore[no-any-return]
    return column.in_(list(tenant_id))  # type: ignore[no-any-return]


@dataclass(slots=True)
class _Group:
    category: str
    attempts: int = 0
    workloads: set[tuple[str, str]] = field(default_factory=set)
    tenants: set[str] = field(default_factory=set)
    pools: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None
    example_position: int = -1


def failures(
    conn: Connection,
    *,
    since: datetime | None = None,
    tenant_id: str | Sequence[str] | None = None,
    pool: str | None = None,
    category: str | None = None,
    limit: int | None = None,
    attempts: Table = deployment_attempts,
    states: Table = workload_state,
) -> list[FailureGroup]:
    """Fingerprint groups of the failed outcomes matching the filters, largest first (most
    attempts, then most workloads, then most recent)."""
    c = attempts.c
    # Only failures have a fingerprint: this term also selects the partial indexes.
    where: list[ColumnElement[bool]] = [c.fingerprint.is_not(None)]
    where.append(tenant_filter(c.tenant_id, tenant_id))
    if since is not None:
        where.append(c.occurred_at >= since.astimezone(UTC))
    if pool is not None:
        where.append(c.pool_name == pool)
    if category is not None:
        where.append(c.category == category)
    stmt = (
        select(
            c.fingerprint,
            c.category,
            c.tenant_id,
            c.workload_rt_id,
            c.pool_name,
            func.count().label("n"),
            func.min(c.occurred_at).label("first"),
            func.max(c.occurred_at).label("last"),
            func.max(c.position).label("latest"),
        )
        .where(and_(*where))
        .group_by(c.fingerprint, c.category, c.tenant_id, c.workload_rt_id, c.pool_name)
    )
    groups: dict[str, _Group] = {}
    for row in conn.execute(stmt):
        group = groups.get(row.fingerprint)
        if group is None:
            group = groups[row.fingerprint] = _Group(row.category)
        group.attempts += row.n
        group.workloads.add((row.tenant_id, row.workload_rt_id))
        group.tenants.add(row.tenant_id)
        if row.pool_name is not None:
            group.pools.add(row.pool_name)
        first, last = aware(row.first), aware(row.last)
        group.first = first if group.first is None or first < group.first else group.first  # type: ignore[operator]
        group.last = last if group.last is None or last > group.last else group.last  # type: ignore[operator]
        group.example_position = max(group.example_position, row.latest)
    ranked = sorted(
        groups.items(),
        key=lambda kv: (-kv[1].attempts, -len(kv[1].workloads), -kv[1].example_position),
    )
    if limit is not None:
        ranked = ranked[:limit]
    if not ranked:
        return []
    failing = _still_failing(conn, tenant_id, attempts, states)
    examples = _examples(conn, [g.example_position for _, g in ranked], attempts)
    answer = []
    for key, group in ranked:
        message, tenant, rt_id = examples[group.example_position]
        assert group.first is not None
        assert group.last is not None
        answer.append(
            FailureGroup(
                fingerprint=key,
                category=group.category,
                template=template(message),
                attempts=group.attempts,
                workloads=len(group.workloads),
                still_failing=sum(1 for w in group.workloads if failing.get(w) == key),
                tenants=tuple(sorted(group.tenants)),
                pools=tuple(sorted(group.pools)),
                first_seen=group.first,
                last_seen=group.last,
                example=message,
                example_tenant_id=tenant,
                example_workload_rt_id=rt_id,
            )
        )
    return answer


def _still_failing(
    conn: Connection, tenant_id: str | Sequence[str] | None, attempts: Table, states: Table
) -> dict[tuple[str, str], str]:
    """(tenant, workload) -> fingerprint of its latest outcome, for every workload whose
    current state is Error (so that latest outcome is a failure with nothing after it)."""
    s, a = states.c, attempts.c
    inner = attempts.alias("latest")
    latest = (
        select(func.max(inner.c.position))
        .where(inner.c.tenant_id == s.tenant_id, inner.c.workload_rt_id == s.workload_rt_id)
        .scalar_subquery()
    )
    stmt = (
        select(s.tenant_id, s.workload_rt_id, a.fingerprint)
        .select_from(states.join(attempts, a.position == latest))
        .where(s.state == int(DeploymentState.ERROR), tenant_filter(s.tenant_id, tenant_id))
    )
    return {(r.tenant_id, r.workload_rt_id): r.fingerprint for r in conn.execute(stmt)}


def _examples(
    conn: Connection, positions: list[int], attempts: Table
) -> dict[int, tuple[str | None, str, str]]:
    c = attempts.c
    found: dict[int, tuple[str | None, str, str]] = {}
    for start in range(0, len(positions), 500):
        stmt = select(
            c.position, c.status_message, c.status_message_exact, c.tenant_id, c.workload_rt_id
        ).where(c.position.in_(positions[start : start + 500]))
        for row in conn.execute(stmt):
            message = decode_message(row.status_message, row.status_message_exact)
            found[row.position] = (message, row.tenant_id, row.workload_rt_id)
    return found


# -- the rules version -------------------------------------------------------------------


def recorded_version(conn: Connection) -> int | None:
    """The rules version the stored categories were derived with (None: never recorded)."""
    found = conn.execute(
        select(failure_rules.c.version).where(failure_rules.c.name == RULES_ROW)
    ).scalar()
    return None if found is None else int(found)


def record_version(conn: Connection, version: int = RULES_VERSION) -> None:
    values = {"version": version, "applied_at": datetime.now(UTC)}
    changed = conn.execute(
        update(failure_rules).where(failure_rules.c.name == RULES_ROW).values(values)
    ).rowcount
    if not changed:
        conn.execute(insert(failure_rules).values(name=RULES_ROW, **values))


def reclassify(
    engine: Engine, *, force: bool = False, attempts: Table = deployment_attempts
) -> ReclassifyResult:
    """Rewrite `category` and `fingerprint` of every failed outcome whose values under the
    current rules differ, when the recorded rules version is not the current one (or with
    `force`). Batches by position, each in its own transaction; the version is recorded
    after the last one, so an interrupted run is simply run again."""
    with engine.connect() as conn:
        previous = recorded_version(conn)
    if previous == RULES_VERSION and not force:
        return ReclassifyResult(previous, RULES_VERSION, 0, 0)
    c = attempts.c
    examined = changed = 0
    after = -1
    stmt = (
        select(c.position, c.status_message, c.status_message_exact, c.category, c.fingerprint)
        .where(c.success.is_(False), c.position > bindparam("after"))
        .order_by(c.position)
        .limit(BATCH)
    )
    change = (
        update(attempts)
        .where(c.position == bindparam("p"))
        .values(category=bindparam("c"), fingerprint=bindparam("f"))
    )
    while True:
        with engine.begin() as conn:
            rows = conn.execute(stmt, {"after": after}).all()
            if not rows:
                record_version(conn)
                break
            updates = []
            for row in rows:
                message = decode_message(row.status_message, row.status_message_exact)
                new = (categorize(message), fingerprint(message))
                if new != (row.category, row.fingerprint):
                    updates.append({"p": row.position, "c": new[0], "f": new[1]})
            if updates:
                conn.execute(change, updates)
            examined += len(rows)
            changed += len(updates)
            after = rows[-1].position
    return ReclassifyResult(previous, RULES_VERSION, examined, changed)
