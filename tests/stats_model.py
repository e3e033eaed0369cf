"""A plain model of the delivery metrics' written definitions
(`deployledger.domain.insights.stats`), for the unit and integration tests of `stats`."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from support import report, request

from deployledger.domain.insights.stats import OutcomeRow


def model_quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, as written out in numpy's docs."""
    if not values:
        return None
    ordered = sorted(values)
    h = (len(ordered) - 1) * q
    i = int(h)
    if i + 1 >= len(ordered):
        return ordered[i]
    return ordered[i] + (h - i) * (ordered[i + 1] - ordered[i])


def model(rows: list[OutcomeRow], since: datetime, until: datetime) -> dict[str, dict[str, Any]]:
    """Per tenant, straight from the definitions: walk each workload's outcomes before
    `since`, then those of the period, each in position order."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"s": 0, "f": 0, "rec": [], "dur": [], "unrec": 0, "days": defaultdict(int)}
    )
    workloads = {(r.tenant_id, r.workload_rt_id) for r in rows}
    for w in sorted(workloads):
        mine = sorted(
            (r for r in rows if (r.tenant_id, r.workload_rt_id) == w), key=lambda r: r.position
        )
        run_start: datetime | None = None
        last_fail_tenant = None
        for r in [r for r in mine if r.occurred_at < since]:
            if r.success:
                run_start = None
            else:
                run_start = run_start or r.occurred_at
                last_fail_tenant = r.tenant_id
        for r in [r for r in mine if since <= r.occurred_at < until]:
            g = out[r.tenant_id]
            if r.duration is not None:
                g["dur"].append(r.duration)
            g["days"][(r.occurred_at.date(), r.success)] += 1
            if r.success:
                g["s"] += 1
                if run_start is not None:
                    g["rec"].append(max(0.0, (r.occurred_at - run_start).total_seconds()))
                run_start = None
            else:
                g["f"] += 1
                if run_start is None:
                    run_start = r.occurred_at
                last_fail_tenant = r.tenant_id
        if run_start is not None:
            out[str(last_fail_tenant)]["unrec"] += 1
    return out


# The hand-computed fleet of tests/integration/test_readmodel_stats.py (its docstring).
SINCE = datetime(2026, 1, 10, tzinfo=UTC)
UNTIL = datetime(2026, 1, 13, tzinfo=UTC)


def at(day: int, hour: int = 0, minute: int = 0) -> str:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC).isoformat()


def outcome(tenant: str, rtid: str, pool: str, ok: bool, when: str) -> dict[str, Any]:
    return report(rtid, tenant=tenant, name=f"name-{rtid}", pool=pool, success=ok, reportedAt=when)


HAND_FLEET = [
    outcome("a", "w1", "p1", False, at(9, 10)),
    outcome("a", "w1", "p1", False, at(10, 2)),
    request("w1", tenant="a", name="name-w1", reportedAt=at(10, 5, 50)),
    outcome("a", "w1", "p1", True, at(10, 6)),
    outcome("a", "w1", "p1", True, at(11)),
    outcome("a", "w2", "p2", True, at(10, 1)),
    outcome("a", "w2", "p2", False, at(11, 12)),
    outcome("a", "w2", "p2", False, at(12, 12)),
    outcome("b", "w3", "p1", False, at(10)),
    outcome("b", "w3", "p1", True, at(10, 1)),
    outcome("b", "w3", "p1", False, at(10, 2)),
    request("w3", tenant="b", name="name-w3", chart="other", reportedAt=at(10, 3)),
    outcome("b", "w3", "p1", True, at(10, 4)),
    outcome("b", "w3", "p1", True, at(13)),
    outcome("b", "w4", "p3", False, at(5)),
    request("w5", tenant="a", name="name-w5", reportedAt=at(1)),
]
