"""The read endpoints: the same JSON as the CLI's `--json` (the answers' `to_json()`).

A workload of a tenant the token does not hold answers 404, exactly as one never recorded;
fleet-wide queries see only the token's tenants.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from anyio import to_thread
from fastapi import APIRouter, Depends, Path, Query, Request

from deployledger import (
    AuditFilter,
    InvalidQuery,
    WorkloadNotFound,
    check_limit,
    parse_duration,
    parse_when,
)
from deployledger.http import fleet
from deployledger.http.api import schemas
from deployledger.http.auth import Grant, require
from deployledger.http.jsonbody import PlainJSONResponse
from deployledger.http.problems import bad_parameter, invalid
from deployledger.http.state import ledger_of

# A query parameter that may be given more than once, meaning any of its values.
ANY_OF = frozenset({"tenant"})


def once_each(request: Request) -> None:
    """422 for a query parameter given twice, other than those that mean "any of"
    (`ANY_OF`): which one would count is never guessed."""
    names = [name for name, _ in request.query_params.multi_items()]
    repeated = sorted({name for name in names if names.count(name) > 1} - ANY_OF)
    if repeated:
        raise invalid(
            [
                {
                    "index": None,
                    "field": name,
                    "reason": f"is given {names.count(name)} times: give it once",
                }
                for name in repeated
            ],
            write=False,
        )


def no_nul(request: Request) -> None:
    """422 for a NUL in a query parameter: no identifier holds one, and PostgreSQL text
    cannot hold one either (SQLite could search for it: the answer would differ)."""
    problems = [
        {"index": None, "field": name, "reason": "must not contain a NUL character"}
        for name, value in request.query_params.multi_items()
        if "\x00" in value
    ]
    if problems:
        raise invalid(problems, write=False)


MinPositionQuery = Annotated[
    str | None,
    Query(
        alias="minPosition",
        description="Read your writes: answer from a state that holds every message up to "
        "this position (a receipt's `position`). With a read store, the service waits up to "
        "its read wait (2 s by default) for the standby to reach it, then reads from the "
        "primary; the `X-Deployledger-Read-From` header says which answered.",
        json_schema_extra={"pattern": "^[0-9]+$"},
        examples=["1234"],
    ),
]
MAX_POSITION = 2**63 - 1


def min_position(request: Request, value: MinPositionQuery = None) -> None:
    """Mark the request as a read, with its `minPosition` (422 unless a whole number of 0
    or more); `ledger_of` then picks the database its queries go to."""
    wanted = None
    if value is not None:
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_POSITION:
            raise bad_parameter(
                "minPosition",
                f"minPosition must be an integer from 0 to {MAX_POSITION}, got {value!r}",
            )
        wanted = int(text)
    request.state.reads = True
    request.state.min_position = wanted


QUERY_CHECKS = [Depends(once_each), Depends(no_nul), Depends(min_position)]
router = APIRouter(tags=["read"], dependencies=QUERY_CHECKS)
Reader = Annotated[Grant, Depends(require("read"))]
TenantPath = Annotated[str, Path(description="The tenant.", examples=["acme-prod"])]
RtIdPath = Annotated[
    str, Path(alias="rtId", description="The workload's runtime id.", examples=[schemas.RT_ID])
]
TenantQuery = Annotated[
    list[str] | None,
    Query(description="Only this tenant; given more than once, any of them (tenant=a&tenant=b)."),
]
PoolQuery = Annotated[str | None, Query(description="Only this pool: its name or its runtime id.")]


AtQuery = Annotated[
    str | None,
    Query(
        description="As of this moment: ISO-8601 (no zone: UTC), or a duration ago (2h). "
        "Each workload as after its last message whose effective time (the latest "
        "reportedAt, else recording time, of its messages so far) is at or before it.",
        examples=["2026-11-24T14:03:00Z"],
    ),
]


def _at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_when(value, datetime.now(UTC), "at")
    except (ValueError, OverflowError) as e:
        raise bad_parameter("at", str(e)) from None


def limit_query(description: str, highest: int = 10_000) -> Any:
    """A `limit` parameter: its range is in the OpenAPI document, and `checked_limit`
    refuses a value out of it with the library's message (`deployledger.check_limit`)."""
    return Query(description=description, json_schema_extra={"minimum": 1, "maximum": highest})


def checked_limit(value: int, highest: int = 10_000) -> int:
    try:
        return check_limit(value, highest=highest)
    except InvalidQuery as e:
        raise bad_parameter("limit", str(e)) from None


def _not_found(tenant: str, rt_id: str, at: datetime | None = None) -> WorkloadNotFound:
    when = "" if at is None else f" by {at.isoformat()}"
    return WorkloadNotFound(f"no reports recorded for {tenant}/{rt_id}{when}")


@router.get(
    "/v1/workloads",
    summary="The fleet",
    response_model=list[schemas.WorkloadState],
    operation_id="listWorkloads",
)
async def list_workloads(
    request: Request,
    grant: Reader,
    tenant: TenantQuery = None,
    pool: PoolQuery = None,
    state: Annotated[
        str | None,
        Query(
            description="deployed, error, pending or undeployed (any casing).", examples=["error"]
        ),
    ] = None,
    at: AtQuery = None,
) -> PlainJSONResponse:
    """Every workload's current state, by tenant then runtime id (`deployledger status`).
    With `at`, the fleet as it was then (`deployledger status --at`): the filters apply to
    the states of then, and workloads with no message by then are not listed."""
    when = _at(at)
    ledger = await ledger_of(request)
    states = await to_thread.run_sync(fleet.workloads, ledger, grant, tenant, pool, state, when)
    return PlainJSONResponse([s.to_json() for s in states])


@router.get(
    "/v1/workloads/{tenant}/{rtId}",
    summary="One workload",
    response_model=schemas.WorkloadState,
    operation_id="getWorkload",
)
async def get_workload(
    request: Request, grant: Reader, tenant: TenantPath, rt_id: RtIdPath, at: AtQuery = None
) -> PlainJSONResponse:
    """The current state of one workload (`deployledger show`); with `at`, as it was then
    (404 if it had no message by then)."""
    when = _at(at)
    if not grant.sees(tenant):
        raise _not_found(tenant, rt_id, when)
    ledger = await ledger_of(request)
    state = await to_thread.run_sync(lambda: ledger.get(tenant, rt_id, at=when))
    return PlainJSONResponse(state.to_json())


@router.get(
    "/v1/workloads/{tenant}/{rtId}/history",
    summary="One workload's timeline",
    response_model=list[schemas.TimelineEntry],
    operation_id="getHistory",
)
async def get_history(
    request: Request,
    grant: Reader,
    tenant: TenantPath,
    rt_id: RtIdPath,
    attempts: Annotated[
        bool, Query(description="Only the outcomes (helm attempts), numbered.")
    ] = False,
    limit: Annotated[
        int | None, Query(ge=1, le=1_000_000, description="At most N, newest.")
    ] = None,
    before: Annotated[
        int | None,
        Query(ge=1, description="Only attempts numbered below this (implies attempts=true)."),
    ] = None,
) -> PlainJSONResponse:
    """The workload's timeline, newest first: deploy requests, progress, outcomes and
    undeploys (`deployledger history`); with `attempts=true` the outcomes alone."""
    if not grant.sees(tenant):
        raise _not_found(tenant, rt_id)
    ledger = await ledger_of(request)

    def read() -> list[dict[str, Any]]:
        if attempts or before is not None:
            entries: list[Any] = ledger.history(tenant, rt_id, limit=limit, before_attempt=before)
        else:
            entries = ledger.timeline(tenant, rt_id, limit=limit)
        if not entries:
            ledger.get(tenant, rt_id)  # WorkloadNotFound, unless the page is just empty
        return [e.to_json() for e in entries]

    return PlainJSONResponse(await to_thread.run_sync(read))


@router.get(
    "/v1/audit",
    summary="Attempts across the fleet",
    response_model=list[schemas.AuditRow],
    operation_id="audit",
    responses={
        200: {
            "headers": {
                "Link": {
                    "description": 'The next page: `</v1/audit?...&cursor=C>; rel="next"`',
                    "schema": {"type": "string"},
                }
            }
        }
    },
)
async def audit(
    request: Request,
    grant: Reader,
    tenant: TenantQuery = None,
    pool: Annotated[str | None, Query(description="Only this pool.")] = None,
    workload: Annotated[str | None, Query(description="Only this workload name.")] = None,
    rt_id: Annotated[str | None, Query(alias="rtId", description="Only this runtime id.")] = None,
    since: Annotated[
        str | None,
        Query(
            description="From this time: ISO-8601 (no zone: UTC), or 90m, 24h, 7d ago.",
            examples=["24h"],
        ),
    ] = None,
    until: Annotated[
        str | None, Query(description="Before this time: ISO-8601, or a duration ago.")
    ] = None,
    failed: Annotated[bool, Query(description="Only failed attempts.")] = False,
    succeeded: Annotated[bool, Query(description="Only successful attempts.")] = False,
    grep: Annotated[
        str | None, Query(description="The status message contains this (any case).")
    ] = None,
    limit: Annotated[int, limit_query("At most N per page.")] = 50,
    cursor: Annotated[
        str | None, Query(description="Continue after a page (from its Link header).")
    ] = None,
    category: Annotated[
        str | None,
        Query(description="Only failed attempts of this category (see /v1/failures)."),
    ] = None,
    fingerprint: Annotated[
        str | None, Query(description="Only failed attempts with this fingerprint.")
    ] = None,
) -> PlainJSONResponse:
    """Attempts across the fleet, newest first, a page at a time (`deployledger audit`).
    When there is more, the `Link` header names the next page (`rel="next"`)."""
    where = audit_filter(
        tenant, pool, workload, rt_id, since, until, failed, succeeded, grep, category, fingerprint
    )
    checked_limit(limit)
    ledger = await ledger_of(request)
    page = await to_thread.run_sync(fleet.audit, ledger, grant, where, limit, cursor)
    headers = {}
    if page.next_cursor is not None:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        query.append(("cursor", page.next_cursor))
        headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    return PlainJSONResponse([a.to_audit_json() for a in page.items], headers=headers)


def audit_filter(
    tenant: list[str] | None,
    pool: str | None,
    workload: str | None,
    rt_id: str | None,
    since: str | None,
    until: str | None,
    failed: bool,
    succeeded: bool,
    grep: str | None,
    category: str | None,
    fingerprint: str | None,
) -> AuditFilter:
    """The `AuditFilter` of an audit query's parameters (`/v1/audit`, `/v1/audit/export`);
    a time that cannot be read answers 422 naming its parameter."""
    if failed and succeeded:
        raise bad_parameter("failed", "failed and succeeded exclude each other")
    now = datetime.now(UTC)
    times: dict[str, datetime | None] = {}
    for name, value in (("since", since), ("until", until)):
        try:
            times[name] = None if value is None else parse_when(value, now, name)
        except (ValueError, OverflowError) as e:
            raise bad_parameter(name, str(e)) from None
    return AuditFilter(
        tenants=tenant,
        pools=pool,
        workload_name=workload,
        workload_rt_id=rt_id,
        success=True if succeeded else (False if failed else None),
        grep=grep,
        category=category,
        fingerprint=fingerprint,
        **times,
    )


@router.get(
    "/v1/overdue",
    summary="Deploys that never reported back",
    response_model=list[schemas.Overdue],
    operation_id="overdue",
)
async def overdue(
    request: Request,
    grant: Reader,
    older_than: Annotated[
        str,
        Query(
            alias="olderThan",
            description="Waiting longer than this: seconds (900) or 90s, 15m, 2h, 1d, 1h30m.",
            examples=["15m"],
        ),
    ] = "15m",
    tenant: TenantQuery = None,
    pool: PoolQuery = None,
) -> PlainJSONResponse:
    """Workloads whose latest deploy request has had no outcome and no undeploy for longer
    than `olderThan`, oldest request first (`deployledger overdue`)."""
    try:
        age = parse_duration(older_than, "olderThan")
    except (ValueError, OverflowError) as e:
        raise bad_parameter("olderThan", str(e)) from None
    ledger = await ledger_of(request)
    found = await to_thread.run_sync(fleet.overdue, ledger, grant, age, tenant, pool)
    return PlainJSONResponse([o.to_json() for o in found])
