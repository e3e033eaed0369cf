"""Delivery metrics and the full audit export (`deployledger stats`, `audit --all`).

Read scope; a tenant-bound token sees only its tenants. The export streams: the first
chunk is read before the answer starts (so a bad filter or a store that is down answers a
problem, not a cut-off 200), the rest as the library yields it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from itertools import islice
from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from deployledger import Attempt, parse_when
from deployledger.http import fleet
from deployledger.http.api import schemas
from deployledger.http.api.read import QUERY_CHECKS, TenantQuery, audit_filter
from deployledger.http.auth import Grant, require
from deployledger.http.jsonbody import PlainJSONResponse
from deployledger.http.problems import bad_parameter
from deployledger.http.state import ledger_of
from deployledger.presentation import plain_json

router = APIRouter(tags=["insights"], dependencies=QUERY_CHECKS)
Reader = Annotated[Grant, Depends(require("read"))]
CHUNK = 2000
# What `audit --all` says of --limit and --cursor, as the export's 422 says it.
PAGED = (
    ("limit", "the export gives every matching row: page with GET /v1/audit instead"),
    ("cursor", "the export has no pages: page with GET /v1/audit instead"),
)
CSV_TYPE = "text/csv; charset=utf-8"
JSONL_TYPE = "application/x-ndjson"


class DayCount(BaseModel):
    model_config = schemas._examples({"day": "2026-11-30", "successes": 12, "failures": 1})
    day: str
    successes: int
    failures: int


class DeliveryStats(BaseModel):
    """The delivery metrics of one group (`deployledger stats --json`); times in seconds."""

    model_config = schemas._examples(
        {
            "by": "workload",
            "key": "acme-prod/64f1c0ffee0000000000beef",
            "name": "checkout-api",
            "since": "2026-10-31T12:00:00+00:00",
            "until": "2026-11-30T12:00:00+00:00",
            "outcomes": 120,
            "successes": 108,
            "failures": 12,
            "deploymentFrequencyPerDay": 3.6,
            "changeFailureRate": 0.1,
            "recoveries": 9,
            "recoveryMedianSeconds": 1260.0,
            "recoveryP90Seconds": 7200.0,
            "unrecovered": 1,
            "durationMedianSeconds": 48.5,
            "durationP90Seconds": 181.2,
            "overdue": 0,
            "days": [{"day": "2026-11-30", "successes": 12, "failures": 1}],
        }
    )
    by: Literal["tenant", "pool", "workload", "chart"]
    key: str | None
    name: str | None
    since: datetime
    until: datetime
    outcomes: int
    successes: int
    failures: int
    deployment_frequency_per_day: float
    change_failure_rate: float | None
    recoveries: int
    recovery_median_seconds: float | None
    recovery_p90_seconds: float | None
    unrecovered: int
    duration_median_seconds: float | None
    duration_p90_seconds: float | None
    overdue: int
    days: list[DayCount]


def _times(**values: str | None) -> dict[str, datetime | None]:
    now = datetime.now(UTC)
    times: dict[str, datetime | None] = {}
    for name, value in values.items():
        try:
            times[name] = None if value is None else parse_when(value, now, name)
        except (ValueError, OverflowError) as e:
            raise bad_parameter(name, str(e)) from None
    return times


SinceQuery = Annotated[
    str | None, Query(description="From this time: ISO-8601 (no zone: UTC), or 24h, 7d, 30d ago.")
]
UntilQuery = Annotated[
    str | None, Query(description="Before this time: ISO-8601, or a duration ago.")
]


@router.get(
    "/v1/stats",
    summary="Delivery metrics (DORA)",
    response_model=list[DeliveryStats],
    operation_id="stats",
)
async def stats(
    request: Request,
    grant: Reader,
    since: SinceQuery = "30d",
    until: UntilQuery = None,
    by: Annotated[
        Literal["tenant", "pool", "workload", "chart"], Query(description="One group per ...")
    ] = "tenant",
    tenant: TenantQuery = None,
    pool: Annotated[str | None, Query(description="Only this pool.")] = None,
) -> PlainJSONResponse:
    """Per group, over the outcomes of the period: deployment frequency, change failure
    rate, failed deployment recovery time (median, p90, unrecovered), deploy duration
    (median, p90), deploys overdue now, and a count per day (`deployledger stats`)."""
    times = _times(since=since or "30d", until=until)
    tenants = fleet.tenants_for(grant, tenant)
    ledger = await ledger_of(request)
    start = times["since"]
    assert start is not None

    def read() -> list[dict[str, Any]]:
        found = ledger.stats(since=start, until=times["until"], by=by, tenant_id=tenants, pool=pool)
        return [s.to_json() for s in found]

    return PlainJSONResponse(await to_thread.run_sync(read))


def jsonl_chunk(attempts: list[Attempt]) -> str:
    return "".join(plain_json(a.to_audit_json()) + "\n" for a in attempts)


@router.get(
    "/v1/audit/export",
    summary="Every matching attempt, streamed",
    operation_id="auditExport",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "CSV (the columns of `audit -o csv`) or JSON Lines (`audit -o jsonl`).",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                JSONL_TYPE: {"schema": {"type": "string"}},
            },
        }
    },
)
async def audit_export(
    request: Request,
    grant: Reader,
    format: Annotated[
        Literal["csv", "jsonl"], Query(description="csv (with a header row) or jsonl.")
    ] = "csv",
    tenant: TenantQuery = None,
    pool: Annotated[str | None, Query(description="Only this pool.")] = None,
    workload: Annotated[str | None, Query(description="Only this workload name.")] = None,
    rt_id: Annotated[str | None, Query(alias="rtId", description="Only this runtime id.")] = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    failed: Annotated[bool, Query(description="Only failed attempts.")] = False,
    succeeded: Annotated[bool, Query(description="Only successful attempts.")] = False,
    grep: Annotated[
        str | None, Query(description="The status message contains this (any case).")
    ] = None,
    category: Annotated[
        str | None,
        Query(description="Only failed attempts of this category (see /v1/failures)."),
    ] = None,
    fingerprint: Annotated[
        str | None, Query(description="Only failed attempts with this fingerprint.")
    ] = None,
) -> StreamingResponse:
    """Every attempt `GET /v1/audit` would list with these filters, newest first, in one
    streamed answer (`deployledger audit --all`), in constant memory on the server. It has
    no pages: `limit` or `cursor` answers 422."""
    for name, reason in PAGED:
        if name in request.query_params:
            raise bad_parameter(name, reason)
    where = audit_filter(
        None, pool, workload, rt_id, since, until, failed, succeeded, grep, category, fingerprint
    )
    where = replace(where, tenants=fleet.tenants_for(grant, tenant))
    ledger = await ledger_of(request)

    def start() -> tuple[Iterator[bytes], bytes]:
        if format == "csv":
            data = ledger.audit_csv(where=where)
            return data, b"".join(islice(data, 2))  # the header, and the first rows
        attempts = ledger.audit_iter(where=where)
        chunks = iter(lambda: list(islice(attempts, CHUNK)), [])
        lines = (jsonl_chunk(chunk).encode() for chunk in chunks)
        return lines, b"".join(islice(lines, 1))

    data, first = await to_thread.run_sync(start)

    def rest() -> Iterator[bytes]:
        yield first
        yield from data

    media = CSV_TYPE if format == "csv" else JSONL_TYPE
    return StreamingResponse(rest(), media_type=media)
