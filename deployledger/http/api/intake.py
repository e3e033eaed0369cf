"""POST /v1/intake/flux and /v1/intake/cloudevents: events of other tools, recorded as the
lifecycle messages they mean (docs/intake.md has the mapping and its reasons).

- 201 with `{receipts, ignored}` when something new was recorded, 200 when every message
  was a duplicate (a sender's retry), 202 when every event was ignored (nothing stored: an
  event of another kind, a reason or type that is not mapped). Ignored is never an error:
  Flux's notification-controller retries errors;
- 422 problem+json listing every problem, nothing stored (a CloudEvents batch is all or
  nothing);
- 401 for a Flux event with a missing or wrong `X-Signature` when the token has an HMAC
  secret (`deployledger token secret`), and for a signed event when it has none;
- the tenant is `?tenant=T` (which the token must hold: 404 otherwise), else the token's
  only tenant; for Flux, `?tenantFrom=namespace` makes it the HelmRelease's namespace.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request

from deployledger import (
    IntakeResult,
    InvalidReport,
    Ledger,
    Receipt,
    cloudevents_intake,
    flux_intake,
    parse_message,
)
from deployledger.http.api.body import check_media_type, decode, read_body
from deployledger.http.api.reports import _record
from deployledger.http.auth import Grant, require
from deployledger.http.jsonbody import PlainJSONResponse
from deployledger.http.metrics import Metrics
from deployledger.http.problems import HTTPProblem, invalid, report_problems
from deployledger.http.state import holder_of, ledger_of, settings_of

router = APIRouter(tags=["intake"])
BATCH = "application/cloudevents-batch+json"
TenantQuery = Annotated[
    str | None,
    Query(
        max_length=256,
        description="The tenant of the events (the token must hold it); default: the "
        "token's only tenant.",
    ),
]


def _not_held(tenant: str) -> HTTPProblem:
    return HTTPProblem(
        404,
        f"no tenant {tenant!r} for this token; nothing was stored",
        kind="tenant-not-found",
        title="Tenant not found",
    )


def _tenant(grant: Grant, tenant: str | None) -> str | None:
    if tenant is not None:
        if not grant.sees(tenant):
            raise _not_held(tenant)
        return tenant
    if not grant.admin and len(grant.tenants) == 1:
        return grant.tenants[0]
    return None


def _validate(ledger: Ledger, result: IntakeResult, batch: bool) -> list[Any]:
    """The messages parsed as `POST /v1/reports` parses them, or 422 with every problem
    (indexed by the event each message came from)."""
    parsed, problems = [], []
    for message, source in zip(result.messages, result.sources, strict=True):
        try:
            parsed.append(
                parse_message(
                    message,
                    max_message_bytes=ledger.max_message_bytes,
                    reject_oversized=ledger.reject_oversized,
                )
            )
        except InvalidReport as e:
            problems += [
                {"index": source if batch else None, "field": p.field, "reason": p.reason}
                for p in e.problems
            ]
    if problems:
        raise invalid(problems)
    return parsed


async def _store(request: Request, result: IntakeResult, batch: bool) -> PlainJSONResponse:
    metrics: Metrics = request.app.state.metrics
    grant: Grant = request.state.grant
    hidden = sorted({m["tenantId"] for m in result.messages if not grant.sees(m["tenantId"])})
    if hidden:
        raise _not_held(hidden[0])
    ignored = [{"index": i if batch else None, "reason": r} for i, r in result.ignored]
    if not result.messages:
        return PlainJSONResponse({"receipts": [], "ignored": ignored}, status_code=202)
    ledger = await ledger_of(request)
    messages = await to_thread.run_sync(_validate, ledger, result, batch)
    try:
        writer = holder_of(request).writer
        receipts: list[Receipt] = await to_thread.run_sync(
            _record, ledger, writer, metrics, messages
        )
    except InvalidReport as e:  # a messageId reused with other content
        raise invalid(report_problems(e, batch=batch)) from None
    for receipt in receipts:
        metrics.received(receipt.kind, "duplicate" if receipt.duplicate else "accepted")
    status = 200 if all(r.duplicate for r in receipts) else 201
    body = {"receipts": [r.to_json() for r in receipts], "ignored": ignored}
    return PlainJSONResponse(body, status_code=status)


@router.post(
    "/v1/intake/flux",
    summary="Record a Flux notification-controller event",
    status_code=201,
    operation_id="intakeFlux",
)
async def intake_flux(
    request: Request,
    grant: Annotated[Grant, Depends(require("write"))],
    tenant: TenantQuery = None,
    cluster: Annotated[
        str | None,
        Query(
            max_length=256,
            description="The cluster name the workload ids derive from; default: the "
            "event metadata's `cluster`.",
        ),
    ] = None,
    tenant_from: Annotated[
        Literal["namespace"] | None,
        Query(
            alias="tenantFrom",
            description="`namespace`: the tenant is the HelmRelease's namespace (the token "
            "must hold it), for a cluster whose namespaces are its tenants.",
        ),
    ] = None,
) -> PlainJSONResponse:
    """One event of Flux's `generic` or `generic-hmac` provider. HelmRelease install,
    upgrade and uninstall results and progress are recorded; anything else answers 202."""
    settings = settings_of(request)
    check_media_type(request)
    raw = await read_body(request, settings.max_body_bytes, settings.body_timeout)
    signature = request.headers.get("x-signature")
    if settings.auth:
        ledger = await ledger_of(request)
        refused = await to_thread.run_sync(
            ledger.tokens.check_signature, grant.token_id, raw, signature
        )
        if refused is not None:
            raise HTTPProblem(
                401,
                refused + "; nothing was stored",
                kind="bad-signature",
                title="Bad signature",
                headers={
                    "WWW-Authenticate": 'Bearer realm="deployledger", error="invalid_request"'
                },
            )
    body = decode(raw)
    if tenant is not None and tenant_from is not None:
        reason = "give ?tenant=T or ?tenantFrom=namespace, not both"
        raise invalid([{"index": None, "field": "tenantFrom", "reason": reason}])
    chosen = _tenant(grant, tenant)
    try:
        result = flux_intake(
            body, tenant=chosen, cluster=cluster, tenant_from_namespace=tenant_from is not None
        )
    except InvalidReport as e:
        raise invalid(report_problems(e, batch=False)) from None
    return await _store(request, result, batch=False)


@router.post(
    "/v1/intake/cloudevents",
    summary="Record CloudEvents (CDEvents service events)",
    status_code=201,
    operation_id="intakeCloudEvents",
)
async def intake_cloudevents(
    request: Request,
    grant: Annotated[Grant, Depends(require("write"))],
    tenant: TenantQuery = None,
    pool: Annotated[
        str | None,
        Query(
            max_length=256,
            description="The pool of the workloads; default: the event's environment id.",
        ),
    ] = None,
) -> PlainJSONResponse:
    """CloudEvents in binary (`ce-*` headers), structured (`application/cloudevents+json`)
    or batch mode (`application/cloudevents-batch+json`, all or nothing). CDEvents
    service.deployed/upgraded/rolledback/removed (spec 0.4.x and 0.5.x) are recorded;
    other types answer 202 (422 with `serve --intake-strict`)."""
    settings = settings_of(request)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    raw = await read_body(request, settings.max_body_bytes, settings.body_timeout)
    is_json = media in ("", "application/json", "text/json") or (
        media.startswith("application/") and media.endswith("+json")
    )
    body: Any = decode(raw) if is_json else raw
    chosen = _tenant(grant, tenant)
    headers = {name.lower(): value for name, value in request.headers.items()}
    batch = media == BATCH
    try:
        result, batch = cloudevents_intake(
            headers, body, tenant=chosen, pool=pool, strict=settings.intake_strict
        )
    except InvalidReport as e:
        raise invalid(report_problems(e, batch=batch)) from None
    return await _store(request, result, batch)
