"""Delivery metrics (`Ledger.stats`): the DORA measures a ledger of outcomes can give.

Pure: the read model hands in outcome rows, this folds them. Definitions (docs/stats-and-export.md):

- **deployment frequency** (DORA, exact): successful outcomes per day of the period;
- **change failure rate** (DORA proxy): failed outcomes / all outcomes of the period;
- **failed deployment recovery time** (DORA proxy): for each recovery (a success that ends a
  workload's run of failures), the time from the run's FIRST failure to that success. A run
  that began before `since` and ends inside the period counts, with its whole length (its
  failures before `since` are read too). A run still open at `until` is not a recovery: the
  workload is counted as **unrecovered**, wherever the run began;
- **deploy duration** (ours, not DORA's): request to outcome (`Attempt.duration`) of the
  outcomes of the period that closed a request.

An outcome is in the period when `since <= occurred_at < until` (occurred at: the sender's
reportedAt, else the recording time, as in `audit`). Runs of failures are found in two steps,
each in recording (position) order: first the outcomes that occurred before `since` give
each workload's run open at `since` (its failures after its last success), then the
outcomes of the period continue it. Outcomes at or after `until` are not read. (With
senders' clocks in order, this is simply each workload's outcomes in order.) The tenant
and pool filters select outcome rows before any of this. Each outcome counts in the group
of its own row (its tenant, pool, workload or chart); a recovery in the group of the
success that ended it; an unrecovered workload in the group of its latest failure. The
overdue count is of the deploys overdue now (no outcome 15 minutes after the request, as
`overdue` lists them), whatever the period. Medians and p90s interpolate linearly between
the closest ranks (numpy's default).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, NamedTuple

StatsBy = Literal["tenant", "pool", "workload", "chart"]
GROUPINGS: tuple[str, ...] = ("tenant", "pool", "workload", "chart")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def quantile(values: Sequence[float], q: float) -> float | None:
    """The `q` quantile (0..1) of `values`, interpolated linearly; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class DayCount:
    """Outcomes of one UTC day."""

    day: date
    successes: int
    failures: int

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "successes": self.successes, "failures": self.failures}


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """The delivery metrics of one group (a tenant, pool, workload or chart) over a period.

    Times are in seconds; a median or p90 is None when nothing was measured, and the change
    failure rate is None without outcomes. `key` is None for outcomes without a pool (or
    chart); for `by="workload"` it is `tenant/runtime id`, and `name` the workload's name."""

    by: str
    key: str | None
    name: str | None
    since: datetime
    until: datetime
    successes: int
    failures: int
    deployment_frequency: float
    change_failure_rate: float | None
    recoveries: int
    recovery_median: float | None
    recovery_p90: float | None
    unrecovered: int
    duration_median: float | None
    duration_p90: float | None
    overdue: int
    days: tuple[DayCount, ...]

    @property
    def outcomes(self) -> int:
        return self.successes + self.failures

    def to_json(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "key": self.key,
            "name": self.name,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "outcomes": self.outcomes,
            "successes": self.successes,
            "failures": self.failures,
            "deploymentFrequencyPerDay": self.deployment_frequency,
            "changeFailureRate": self.change_failure_rate,
            "recoveries": self.recoveries,
            "recoveryMedianSeconds": self.recovery_median,
            "recoveryP90Seconds": self.recovery_p90,
            "unrecovered": self.unrecovered,
            "durationMedianSeconds": self.duration_median,
            "durationP90Seconds": self.duration_p90,
            "overdue": self.overdue,
            "days": [d.to_json() for d in self.days],
        }


class OutcomeRow(NamedTuple):
    """What the metrics read of one outcome."""

    position: int
    tenant_id: str
    workload_rt_id: str
    workload_name: str | None
    pool_name: str | None
    chart_name: str | None
    occurred_at: datetime
    success: bool
    duration: float | None


def group_key(by: str, row: OutcomeRow) -> str | None:
    if by == "tenant":
        return row.tenant_id
    if by == "pool":
        return row.pool_name
    if by == "workload":
        return f"{row.tenant_id}/{row.workload_rt_id}"
    return row.chart_name


@dataclass(slots=True)
class _Group:
    name: str | None = None
    successes: int = 0
    failures: int = 0
    recoveries: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    unrecovered: int = 0
    overdue: int = 0
    days: dict[date, list[int]] = field(default_factory=dict)


def days_of(since: datetime, until: datetime) -> list[date]:
    """The UTC days the period touches."""
    first, last = since.date(), (until - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def fold(
    *,
    by: str,
    since: datetime,
    until: datetime,
    before: Iterable[OutcomeRow],
    during: Iterable[OutcomeRow],
    overdue: Iterable[tuple[str | None, str | None]] = (),
) -> list[DeliveryStats]:
    """The metrics per group, sorted by key (None last).

    `before`: every outcome that may belong to a run of failures open at `since` (at least
    each workload's failures after its last success before `since`), in position order;
    `during`: the outcomes of the period, in position order; `overdue`: (key, name) of each
    overdue deploy. `since` and `until` are in UTC.
    """
    groups: dict[str | None, _Group] = {}
    # Per workload: the start of its open run of failures, and the group of its latest one.
    open_runs: dict[tuple[str, str], tuple[datetime, str | None]] = {}

    def group(key: str | None, name: str | None) -> _Group:
        found = groups.get(key)
        if found is None:
            found = groups[key] = _Group(name=name)
        return found

    for row in before:
        workload = (row.tenant_id, row.workload_rt_id)
        if row.success:
            open_runs.pop(workload, None)
        else:
            start = open_runs.get(workload, (row.occurred_at, None))[0]
            open_runs[workload] = (start, group_key(by, row))
    names: dict[str | None, str | None] = {}
    for row in during:
        key = group_key(by, row)
        workload = (row.tenant_id, row.workload_rt_id)
        g = group(key, row.workload_name if by == "workload" else None)
        day = g.days.setdefault(row.occurred_at.date(), [0, 0])
        if row.duration is not None:
            g.durations.append(row.duration)
        if row.success:
            g.successes += 1
            day[0] += 1
            run = open_runs.pop(workload, None)
            if run is not None:
                g.recoveries.append(max(0.0, (row.occurred_at - run[0]).total_seconds()))
        else:
            g.failures += 1
            day[1] += 1
            start = open_runs.get(workload, (row.occurred_at, None))[0]
            open_runs[workload] = (start, key)
        if by == "workload":
            names[key] = row.workload_name
    for _, key in open_runs.values():
        group(key, names.get(key)).unrecovered += 1
    for key, name in overdue:
        group(key, name).overdue += 1
    period_days = (until - since).total_seconds() / 86400
    calendar = days_of(since, until)
    answer = []
    for key, g in groups.items():
        outcomes = g.successes + g.failures
        answer.append(
            DeliveryStats(
                by=by,
                key=key,
                name=g.name if by == "workload" else None,
                since=since,
                until=until,
                successes=g.successes,
                failures=g.failures,
                deployment_frequency=g.successes / period_days if period_days > 0 else 0.0,
                change_failure_rate=g.failures / outcomes if outcomes else None,
                recoveries=len(g.recoveries),
                recovery_median=quantile(g.recoveries, 0.5),
                recovery_p90=quantile(g.recoveries, 0.9),
                unrecovered=g.unrecovered,
                duration_median=quantile(g.durations, 0.5),
                duration_p90=quantile(g.durations, 0.9),
                overdue=g.overdue,
                days=tuple(DayCount(d, *g.days.get(d, (0, 0))) for d in calendar),
            )
        )
    answer.sort(key=lambda s: (s.key is None, s.key or ""))
    return answer
