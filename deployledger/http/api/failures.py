"""`GET /v1/failures`: failed outcomes grouped by fingerprint (`deployledger failures
--json`). A tenant-bound token sees the groups of its own tenants' failures only: counts,
tenants, pools and the example are computed over those alone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from deployledger import FAILURE_CATEGORIES, FailureGroup, parse_when
from deployledger.http.api.read import QUERY_CHECKS, TenantQuery, checked_limit, limit_query
from deployledger.http.auth import Grant, require
from deployledger.http.fleet import tenants_for
from deployledger.http.jsonbody import PlainJSONResponse
from deployledger.http.problems import bad_parameter
from deployledger.http.state import ledger_of

router = APIRouter(tags=["read"], dependencies=QUERY_CHECKS)
Reader = Annotated[Grant, Depends(require("read"))]
Category = Literal[FAILURE_CATEGORIES]  # type: ignore[valid-type]


class FailureGroupOut(BaseModel):
    """One fingerprint group (`failures --json`): `stillFailing` counts the group's
    workloads whose current state is Error with this fingerprint on their latest outcome."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "fingerprint": "624ea43ed2e0",
                    "category": "wait-timeout",
                    "template": "Error: UPGRADE FAILED: timed out waiting for the condition",
                    "attempts": 14,
                    "workloads": 9,
                    "stillFailing": 3,
                    "tenants": ["acme-prod", "globex"],
                    "pools": ["pool-eu-west-1"],
                    "firstSeen": "2026-11-29T08:00:12.500000+00:00",
                    "lastSeen": "2026-11-30T10:50:12.123456+00:00",
                    "example": "Error: UPGRADE FAILED: timed out waiting for the condition\n",
                    "exampleTenantId": "acme-prod",
                    "exampleWorkloadRtId": "64f1c0ffee0000000000beef",
                }
            ]
        },
    )
    fingerprint: str
    category: Category
    template: str
    attempts: int
    workloads: int
    still_failing: int
    tenants: list[str]
    pools: list[str]
    first_seen: datetime
    last_seen: datetime
    example: str | None
    example_tenant_id: str
    example_workload_rt_id: str


@router.get(
    "/v1/failures",
    summary="What is breaking deploys",
    response_model=list[FailureGroupOut],
    operation_id="failures",
)
async def failures(
    request: Request,
    grant: Reader,
    since: Annotated[
        str,
        Query(
            description="From this time: ISO-8601 (no zone: UTC), or 90m, 24h, 7d ago. "
            "Default: the last 24 hours (1970-01-01 for every failure kept).",
            examples=["7d"],
        ),
    ] = "24h",
    tenant: TenantQuery = None,
    pool: Annotated[str | None, Query(description="Only this pool.")] = None,
    category: Annotated[Category | None, Query(description="Only this failure category.")] = None,
    limit: Annotated[int, limit_query("At most N groups.")] = 50,
) -> PlainJSONResponse:
    """Failed outcomes of the last 24 hours (or since `since`) grouped by fingerprint,
    largest first (`deployledger failures`)."""
    try:
        start = parse_when(since, datetime.now(UTC), "since")
    except (ValueError, OverflowError) as e:
        raise bad_parameter("since", str(e)) from None
    checked_limit(limit)
    wanted = tenants_for(grant, tenant)
    ledger = await ledger_of(request)

    def read() -> list[FailureGroup]:
        return ledger.failures(
            since=start, tenant_id=wanted, pool=pool, category=category, limit=limit
        )

    return PlainJSONResponse([g.to_json() for g in await to_thread.run_sync(read)])
