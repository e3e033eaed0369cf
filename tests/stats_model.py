"""A plain model of the delivery metrics' written definitions (`deployledger.domain.stats`),
for the unit and integration tests of `stats`."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from deployledger.domain.stats import OutcomeRow


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
