"""Errors as RFC 9457 `application/problem+json`: `type`, `title`, `status`, `detail`, and
for 422 `problems: [{index, field, reason}]` listing every problem.

`index` is the 0-based position of the message in an array body, null for a single message
or for a query parameter. The exception handlers here turn every error into a problem; no
traceback ever reaches a client.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from deployledger import (
    DeployLedgerError,
    InvalidQuery,
    InvalidReport,
    ProjectionBehind,
    SchemaMissing,
    StoreMisconfigured,
    StoreUnavailable,
    WorkloadNotFound,
)
from deployledger.http.jsonbody import PlainJSONResponse

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:deployledger:problem:"
log = logging.getLogger("deployledger.http")


class ProblemResponse(PlainJSONResponse):
    media_type = MEDIA_TYPE


def problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    problems: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> ProblemResponse:
    """A problem response. `kind` names the problem type (`urn:deployledger:problem:KIND`);
    without it the type is `about:blank` and the title the status's phrase."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + kind if kind else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if problems is not None:
        body["problems"] = list(problems)
    return ProblemResponse(body, status_code=status, headers=headers)


class HTTPProblem(Exception):
    """Raised by routes and dependencies: answered as `problem(...)` with these arguments."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        problems: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.kind, self.title = status, detail, kind, title
        self.problems, self.headers = problems, headers

    def response(self) -> ProblemResponse:
        return problem(
            self.status,
            self.detail,
            kind=self.kind,
            title=self.title,
            problems=self.problems,
            headers=self.headers,
        )


# The library's argument names, as the query parameters that carry them.
QUERY_NAMES = {
    "tenant_id": "tenant",
    "tenants": "tenant",
    "pool_name": "pool",
    "pools": "pool",
    "workload_name": "workload",
    "workload_rt_id": "rtId",
    "older_than": "olderThan",
    "before_attempt": "before",
}
READS = ("GET", "HEAD")


def invalid(
    problems: Sequence[dict[str, Any]], detail: str | None = None, *, write: bool = True
) -> HTTPProblem:
    """422: every problem of the request; a write says that nothing was stored (a read
    has nothing to store, and says nothing of storing)."""
    count = len(problems)
    said = detail or (
        "1 problem in the request" if count == 1 else f"{count} problems in the request"
    )
    return HTTPProblem(
        422,
        said + ("; nothing was stored" if write else ""),
        kind="invalid-request",
        title="Invalid request",
        problems=problems,
    )


def bad_parameter(name: str, reason: str) -> HTTPProblem:
    """422 for one query parameter of a read, named as the client wrote it."""
    return invalid([{"index": None, "field": name, "reason": reason}], write=False)


def report_problems(error: InvalidReport, *, batch: bool) -> list[dict[str, Any]]:
    """The library's problems as `{index, field, reason}` (index 0-based in a batch)."""
    return [
        {
            "index": (p.report - 1 if p.report is not None else 0) if batch else None,
            "field": p.field,
            "reason": p.reason,
        }
        for p in error.problems
    ]


def unavailable(detail: str, retry_after: int) -> ProblemResponse:
    return problem(
        503,
        detail,
        kind="store-unavailable",
        title="Store unavailable",
        headers={"Retry-After": str(retry_after)},
    )


def _field(loc: Sequence[int | str]) -> str:
    where = [str(part) for part in loc[1:]] if len(loc) > 1 else [str(p) for p in loc]
    return ".".join(where) or "(request)"


def install(app: FastAPI, retry_after: int) -> None:
    """Register the handlers that turn every error into a problem."""

    @app.exception_handler(HTTPProblem)
    async def on_problem(request: Request, exc: HTTPProblem) -> ProblemResponse:
        return exc.response()

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> ProblemResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.url.path}"
        return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> ProblemResponse:
        problems = [
            {"index": None, "field": _field(e.get("loc", ())), "reason": str(e.get("msg"))}
            for e in exc.errors()
        ]
        return invalid(problems, write=request.method not in READS).response()

    @app.exception_handler(InvalidReport)
    async def on_invalid_report(request: Request, exc: InvalidReport) -> ProblemResponse:
        return invalid(report_problems(exc, batch=False)).response()

    @app.exception_handler(InvalidQuery)
    async def on_invalid_query(request: Request, exc: InvalidQuery) -> ProblemResponse:
        name = QUERY_NAMES.get(exc.parameter or "", exc.parameter) or "(request)"
        problems = [{"index": None, "field": name, "reason": str(exc)}]
        return invalid(problems, write=request.method not in READS).response()

    @app.exception_handler(WorkloadNotFound)
    async def on_not_found(request: Request, exc: WorkloadNotFound) -> ProblemResponse:
        return problem(404, str(exc), kind="workload-not-found", title="Workload not found")

    @app.exception_handler(StoreUnavailable)
    async def on_unavailable(request: Request, exc: StoreUnavailable) -> ProblemResponse:
        return unavailable(str(exc), retry_after)

    @app.exception_handler(ProjectionBehind)
    async def on_behind(request: Request, exc: ProjectionBehind) -> ProblemResponse:
        return unavailable(str(exc), retry_after)

    @app.exception_handler(DeployLedgerError)
    async def on_ledger_error(request: Request, exc: DeployLedgerError) -> ProblemResponse:
        if isinstance(exc, SchemaMissing | StoreMisconfigured):
            log.error("store cannot be used: %s", exc)
            return problem(500, str(exc), kind="store-misconfigured", title="Store misconfigured")
        log.error("%s: %s", type(exc).__name__, exc)
        return problem(500, str(exc), kind="internal", title="Internal error")

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> ProblemResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return problem(500, "internal error: see the service's log", kind="internal")
