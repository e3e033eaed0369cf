"""The on-call pages of the dashboard, over the library's own answers:

- `/failures`: what is breaking deploys, failed outcomes grouped by fingerprint for a chosen
  window (24h by default), largest first (`Ledger.failures`, as `deployledger failures`),
  each group with links to its affected workloads and to its attempts in the audit;
- `/stats`: the delivery metrics (`Ledger.stats`, as `deployledger stats`) per day and per
  tenant or pool, drawn as inline SVG bars rendered here: no script, nothing fetched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from deployledger import (
    FAILURE_CATEGORIES,
    DeliveryStats,
    FailureGroup,
    InvalidQuery,
    Ledger,
    parse_duration,
)
from deployledger.http import fleet
from deployledger.http.api.read import min_position
from deployledger.http.dashboard.pages import Page, _in_thread, _param, _serve, render
from deployledger.presentation import format_duration, stats_headers

router = APIRouter(include_in_schema=False, dependencies=[Depends(min_position)])

WINDOWS = ("1h", "24h", "7d", "30d", "all")
DEFAULT_WINDOW = "24h"
STATS_WINDOWS = ("7d", "30d", "90d")
DEFAULT_STATS_WINDOW = "30d"
GROUPINGS = ("tenant", "pool")
MAX_GROUPS = 100
WORKLOADS_SHOWN = 12  # affected workloads listed per group; the count covers them all


def _window(text: str) -> timedelta | None:
    """`24h` as a timedelta; None for `all`. InvalidQuery (a 400 page) for anything else."""
    if text == "all":
        return None
    try:
        return parse_duration(text)
    except ValueError as e:
        raise InvalidQuery(f"window: {e}") from None


@dataclass(frozen=True, slots=True)
class Affected:
    tenant_id: str
    workload_rt_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Group:
    """A fingerprint group as the page shows it."""

    group: FailureGroup
    affected: list[Affected]
    audit_link: str


def _affected(
    ledger: Ledger, page: Page, group: FailureGroup, since: datetime | None, tenant: str | None
) -> list[Affected]:
    """The distinct workloads of the group's latest attempts, newest first."""
    tenants = fleet.tenants_for(page.grant, tenant)
    seen: dict[tuple[str, str], Affected] = {}
    for attempt in ledger.audit_iter(
        tenant_id=tenants, fingerprint=group.fingerprint, since=since, success=False
    ):
        key = (attempt.tenant_id, attempt.workload_rt_id)
        if key not in seen:
            seen[key] = Affected(*key, attempt.workload_name or attempt.workload_rt_id)
        if len(seen) >= min(group.workloads, WORKLOADS_SHOWN):
            break
    return list(seen.values())


@router.get("/failures", response_class=HTMLResponse)
async def failures_page(request: Request) -> Response:
    tenant, pool = _param(request, "tenant"), _param(request, "pool")
    category, fingerprint = _param(request, "category"), _param(request, "fingerprint")
    window = _param(request, "since") or DEFAULT_WINDOW

    async def build(page: Page, ledger: Ledger) -> Response:
        ago = _window(window)
        if category is not None and category not in FAILURE_CATEGORIES:
            raise InvalidQuery(f"category must be one of {', '.join(FAILURE_CATEGORIES)}")
        since = None if ago is None else datetime.now(UTC) - ago
        wanted = fleet.tenants_for(page.grant, tenant)

        def read() -> list[Group]:
            if wanted == []:
                return []
            limit = None if fingerprint else MAX_GROUPS
            found = ledger.failures(
                since=since, tenant_id=wanted, pool=pool, category=category, limit=limit
            )
            found = [g for g in found if fingerprint is None or g.fingerprint == fingerprint]
            return [
                Group(g, _affected(ledger, page, g, since, tenant), _audit_link(g, window, tenant))
                for g in found
            ]

        groups = await _in_thread(read)
        return render(
            "failures.html",
            {
                "page": page,
                "title": "Failures",
                "groups": groups,
                "window": window,
                "windows": WINDOWS,
                "categories": FAILURE_CATEGORIES,
                "filters": {
                    "tenant": tenant or "",
                    "pool": pool or "",
                    "category": category or "",
                    "fingerprint": fingerprint or "",
                },
                "tenant_choices": sorted(page.grant.tenants) if not page.grant.admin else [],
                "max_groups": MAX_GROUPS,
            },
            nonce=page.nonce,
        )

    return await _serve(request, build)


def _audit_link(group: FailureGroup, window: str, tenant: str | None) -> str:
    """The group's attempts in the audit (the JSON of `GET /v1/audit`, which the cookie
    opens too), newest first."""
    params = {"fingerprint": group.fingerprint, "failed": "true", "limit": "200"}
    if window != "all":
        params["since"] = window
    if tenant:
        params["tenant"] = tenant
    return "/v1/audit?" + urlencode(params)


# -- stats ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a chart: its label, the value shown, and its geometry in the viewBox."""

    label: str
    text: str
    x: float
    width: float
    segments: tuple[tuple[str, float, float], ...]  # (css class, y, height)


@dataclass(frozen=True, slots=True)
class Chart:
    """Vertical bars (one per day) or, `across`, horizontal ones (one per group, labelled)."""

    title: str
    bars: tuple[Bar, ...]
    width: int
    height: int
    legend: tuple[tuple[str, str], ...]  # (css class, what it means)
    across: bool = False


CHART_HEIGHT = 120
LABEL_WIDTH = 150  # the group names left of horizontal bars
BAR_LENGTH = 280  # the longest horizontal bar
ROW = 22  # one horizontal bar's row


def chart(
    title: str,
    rows: Sequence[tuple[str, str, Sequence[tuple[str, float]]]],
    legend: Sequence[tuple[str, str]] = (),
    slot: int = 28,
    top: float | None = None,
) -> Chart:
    """Bars scaled to `top` (a rate: 1.0), else to the largest: one per `(label, text,
    [(css class, value), ...])`, the values of a bar stacked bottom up."""
    top = top or max((sum(v for _, v in parts) for _, _, parts in rows), default=0.0) or 1.0
    bars = []
    for index, (label, text, parts) in enumerate(rows):
        y = float(CHART_HEIGHT)
        segments = []
        for css, value in parts:
            height = CHART_HEIGHT * value / top
            y -= height
            segments.append((css, round(y, 2), round(height, 2)))
        bars.append(Bar(label, text, index * slot + 2, slot - 4, tuple(segments)))
    return Chart(title, tuple(bars), max(len(rows) * slot, slot), CHART_HEIGHT, tuple(legend))


def across(
    title: str,
    rows: Sequence[tuple[str, str, Sequence[tuple[str, float]]]],
    legend: Sequence[tuple[str, str]] = (),
    top: float | None = None,
) -> Chart:
    """Horizontal bars scaled to `top` (a rate: 1.0), else to the longest, one row per
    `(label, text, parts)`, labelled on the left, the value written after the bar; `Bar.x`
    is where the value is written, and each segment is `(css class, x, length)`."""
    top = top or max((sum(v for _, v in parts) for _, _, parts in rows), default=0.0) or 1.0
    bars = []
    for label, text, parts in rows:
        x = float(LABEL_WIDTH)
        segments = []
        for css, value in parts:
            length = BAR_LENGTH * value / top
            segments.append((css, round(x, 2), round(length, 2)))
            x += length
        bars.append(Bar(label, text, round(x + 6, 2), 0.0, tuple(segments)))
    width = LABEL_WIDTH + BAR_LENGTH + 140
    return Chart(title, tuple(bars), width, max(len(rows), 1) * ROW, tuple(legend), True)


def _per_day(found: Sequence[DeliveryStats]) -> list[tuple[date, int, int]]:
    totals: dict[date, list[int]] = {}
    for group in found:
        for day in group.days:
            counts = totals.setdefault(day.day, [0, 0])
            counts[0] += day.successes
            counts[1] += day.failures
    return [(day, ok, failed) for day, (ok, failed) in sorted(totals.items())]


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def stats_charts(found: Sequence[DeliveryStats], by: str) -> dict[str, list[Chart]]:
    """The page's charts: per day (deployments, change-failure rate) and per group
    (deployments, change-failure rate, recovery time, duration)."""
    days = _per_day(found)
    outcome_legend = [("ok", "succeeded"), ("failed", "failed")]
    per_day = [
        chart(
            "Deployments per day",
            [
                (d.isoformat(), f"{ok + bad} ({bad} failed)", [("ok", ok), ("failed", bad)])
                for d, ok, bad in days
            ],
            outcome_legend,
            slot=16 if len(days) > 20 else 24,
        ),
        chart(
            "Change-failure rate per day",
            [
                (
                    d.isoformat(),
                    _rate(bad / (ok + bad) if ok + bad else None),
                    [("failed", bad / (ok + bad) if ok + bad else 0.0)],
                )
                for d, ok, bad in days
            ],
            slot=16 if len(days) > 20 else 24,
            top=1.0,
        ),
    ]

    def name(s: DeliveryStats) -> str:
        return s.key if s.key is not None else f"(no {by})"

    per_group = [
        across(
            f"Deployments per {by}",
            [
                (
                    name(s),
                    f"{s.outcomes} ({s.failures} failed)",
                    [("ok", s.successes), ("failed", s.failures)],
                )
                for s in found
            ],
            outcome_legend,
        ),
        across(
            f"Change-failure rate per {by}",
            [
                (name(s), _rate(s.change_failure_rate), [("failed", s.change_failure_rate or 0.0)])
                for s in found
            ],
            top=1.0,
        ),
        across(
            f"Recovery time (median) per {by}",
            [
                (name(s), format_duration(s.recovery_median), [("time", s.recovery_median or 0.0)])
                for s in found
            ],
        ),
        across(
            f"Deploy duration (median) per {by}",
            [
                (name(s), format_duration(s.duration_median), [("time", s.duration_median or 0.0)])
                for s in found
            ],
        ),
    ]
    return {"per_day": per_day, "per_group": per_group}


@router.get("/stats", response_class=HTMLResponse)
async def stats_page(request: Request) -> Response:
    tenant, pool = _param(request, "tenant"), _param(request, "pool")
    window = _param(request, "since") or DEFAULT_STATS_WINDOW
    by = _param(request, "by") or "tenant"

    async def build(page: Page, ledger: Ledger) -> Response:
        if by not in GROUPINGS:
            raise InvalidQuery(f"by must be one of {', '.join(GROUPINGS)}, got {by!r}")
        ago = _window(window)
        if ago is None:
            raise InvalidQuery("window: give a duration such as 30d")
        wanted = fleet.tenants_for(page.grant, tenant)

        def read() -> list[DeliveryStats]:
            if wanted == []:
                return []
            return ledger.stats(since=ago, by=by, tenant_id=wanted, pool=pool)

        found = await _in_thread(read)
        return render(
            "stats.html",
            {
                "page": page,
                "title": "Stats",
                "headers": stats_headers(by),
                "found": found,
                "charts": stats_charts(found, by),
                "window": window,
                "windows": STATS_WINDOWS,
                "by": by,
                "groupings": GROUPINGS,
                "filters": {"tenant": tenant or "", "pool": pool or ""},
                "tenant_choices": sorted(page.grant.tenants) if not page.grant.admin else [],
                "rate": _rate,
            },
            nonce=page.nonce,
        )

    return await _serve(request, build)
