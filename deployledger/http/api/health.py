"""`/healthz` (the process is alive), `/readyz` (the store is reachable and the read model's
lag is under the threshold) and `/metrics` (Prometheus). None of them needs a token."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response

from deployledger import DeployLedgerError
from deployledger.http.api import schemas
from deployledger.http.jsonbody import PlainJSONResponse
from deployledger.http.metrics import CONTENT_TYPE, Live, Metrics, measure
from deployledger.http.state import holder_of, settings_of

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness", response_model=schemas.Health, operation_id="healthz")
async def healthz() -> PlainJSONResponse:
    """200 while the process can answer; it asks nothing of the store."""
    return PlainJSONResponse({"status": "ok"})


async def _live(request: Request, *, overdue: bool, server: bool = False) -> Live:
    metrics: Metrics = request.app.state.metrics
    holder = holder_of(request)

    def run() -> Live:
        try:
            ledger = holder.get()
        except DeployLedgerError as e:
            return Live(False, reason=str(e))
        return measure(ledger, metrics.clock, overdue=overdue, server=server)

    return await to_thread.run_sync(run)


@router.get(
    "/readyz",
    summary="Readiness",
    response_model=schemas.Readiness,
    operation_id="readyz",
    responses={503: {"model": schemas.Readiness, "description": "Not ready, and why"}},
)
async def readyz(request: Request) -> PlainJSONResponse:
    """200 when the store answers, writes go to a primary (PostgreSQL: `server` names it)
    and the read model is at most `maxLagEvents` behind; else 503 with the reason."""
    limit = settings_of(request).ready_max_lag_events
    live = await _live(request, overdue=False, server=True)
    reason = live.reason
    server = live.server
    if live.up and server is not None and not server.primary:
        reason = (
            f"no primary is reachable: writes would go to {server.host}:{server.port}, "
            "a read-only standby"
        )
    elif live.up and live.lag_events > limit:
        reason = f"the read model is {live.lag_events} events behind (at most {limit})"
    body = {
        "status": "ready" if reason is None else "not ready",
        "store": "reachable" if live.up else "unavailable",
        "readModelLagEvents": live.lag_events if live.up else None,
        "readModelLagSeconds": round(live.lag_seconds, 3) if live.up else None,
        "maxLagEvents": limit,
        "server": f"{server.host}:{server.port}" if server else None,
        "serverRole": ("primary" if server.primary else "standby") if server else None,
        "replicaLagEvents": live.replica[0] if live.replica else None,
        "replicaLagSeconds": live.replica[1] if live.replica else None,
        "reason": reason,
    }
    return PlainJSONResponse(body, status_code=200 if reason is None else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    operation_id="metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "The Prometheus text format",
        }
    },
)
async def metrics(request: Request) -> Response:
    """Every metric in the Prometheus text format (version 0.0.4)."""
    state: Metrics = request.app.state.metrics
    live = await _live(request, overdue=True)
    return Response(state.exposition(live), media_type=CONTENT_TYPE)
