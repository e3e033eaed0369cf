"""The dashboard: server-rendered pages (Jinja2, autoescaped) over the same tokens as the API.

- `/` the fleet: one row per workload, coloured by state, filtered by tenant, pool and state,
  with a count per state;
- `/workloads/{tenant}/{rtId}`: one workload, a strip of its attempts over time, then its
  whole timeline (requests, progress, outcomes with their full message, undeploys);
- `/overdue`: the deploys that never reported back, older than a filter;
- `/failures` and `/stats` (in `insights.py`): what is breaking deploys, and the delivery
  metrics drawn as inline SVG bars;
- `/login` (a form that POSTs a token, kept in the HttpOnly, SameSite=Strict cookie
  `deployledger_token`) and `/logout`.

A page without a valid token redirects to `/login`; the login refuses a token without the
`read` scope (a page asked with one, by a bearer header, is a 403 page); a tenant-bound
token sees only its tenants (another tenant's workload is a 404 page). With auth off
(`serve --no-auth`) there is no login. Every value is shown safely (control, bidi and
zero-width characters visibly escaped, then HTML-escaped), and the pages forbid every script
but the one inline script they carry (a nonce in the CSP).
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from anyio import to_thread
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from deployledger import (
    Attempt,
    DeployLedgerError,
    DeploymentState,
    InvalidQuery,
    Ledger,
    LifecycleEntry,
    Overdue,
    ProjectionBehind,
    StoreUnavailable,
    TokenGrant,
    WorkloadState,
    parse_duration,
    presentation,
)
from deployledger.http import fleet
from deployledger.http.api.read import min_position
from deployledger.http.auth import COOKIE, Grant, grant_for
from deployledger.http.state import ledger_of, settings_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(min_position)])
log = logging.getLogger("deployledger.http")
# The package that ships the templates and the stylesheet beside this module.
PACKAGE = __name__.rpartition(".")[0]

STATES = ("Deployed", "Pending", "Error", "Undeployed")
MAX_ROWS = 1000  # fleet rows on one page; the counts cover every workload matched
TIMELINE_PAGE = 200  # timeline entries shown before "show more"
STRIP_CELLS = 200  # the latest attempts in the strip
DEFAULT_OLDER_THAN = "15m"
COOKIE_MAX_AGE = 12 * 3600
STYLESHEET = "dashboard.css"  # under static/, served at /static/

templates = Environment(
    loader=PackageLoader(PACKAGE, "templates"),
    autoescape=True,  # every page, whatever the template's name: a message may hold HTML
    finalize=lambda value: visible(value),  # and may hold U+202E or ESC: shown escaped
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


# -- formatting (template filters): the shared presentation -------------------------------

format_duration = presentation.format_duration
format_time = presentation.when


def iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat()


def headline(message: str | None, width: int = 100) -> str:
    """The message's headline as `status` and `history` show it (`presentation.headline`),
    made safe and cut to `width` characters (` …` when the message holds more)."""
    return presentation.summary(message, width)


def visible(value: Any) -> Any:
    """What every `{{ … }}` of a page shows: text with its control, bidi and zero-width
    characters visibly escaped (`\\u202e`), before the HTML escaping (the environment's
    `finalize`); markup the templates built themselves, and other values, as they are."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return presentation.safe(value)
    return value


def chart(name: str | None, version: str | None) -> str:
    if name is None:
        return "-"
    return f"{name} {version}" if version else f"{name} (newest)"


def ago(value: datetime | None, now: datetime) -> str:
    return "" if value is None else format_duration((now - value).total_seconds()) + " ago"


def segment(value: str) -> str:
    """A path segment: every `/`, `?`, `#` ... percent-encoded."""
    return quote(value, safe="")


templates.filters.update(
    duration=format_duration,
    time=format_time,
    iso=iso,
    headline=headline,
    segment=segment,
    category=presentation.category_of,
    fingerprint=presentation.fingerprint_of,
)
templates.globals.update(
    chart=chart,
    states=STATES,
    reason=presentation.reason,
    failed_category=presentation.failed_category,
)


# -- what a page needs --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    """What every page knows: who is asking, whether there is a login, the CSP nonce."""

    grant: Grant
    auth: bool
    nonce: str
    path: str


class _Answer(Exception):
    """Raised by `_page` with what to answer instead of the page: a redirect, the 403."""

    def __init__(self, response: Response) -> None:
        super().__init__("answered")
        self.response = response


def _security_headers(response: Response, nonce: str) -> None:
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; "
        "style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"


def render(
    name: str,
    context: dict[str, Any],
    *,
    nonce: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    nonce = nonce or secrets.token_urlsafe(16)
    html = templates.get_template(name).render(nonce=nonce, stylesheet=STYLESHEET, **context)
    response = HTMLResponse(html, status_code=status, headers=headers)
    _security_headers(response, nonce)
    return response


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _login_redirect(request: Request, reason: str | None) -> Response:
    params = {"next": _here(request)}
    if reason:
        params["reason"] = reason
    response = RedirectResponse("/login?" + urlencode(params), status_code=303)
    if reason:
        response.delete_cookie(COOKIE, path="/")
    return response


async def _page(request: Request) -> Page:
    """Who asks; else `_Answer` with a redirect to the login, or the 403 page."""
    auth = settings_of(request).auth
    nonce = secrets.token_urlsafe(16)
    grant = await grant_for(request)
    if grant is None:
        had_token = request.cookies.get(COOKIE) is not None
        raise _Answer(_login_redirect(request, "expired" if had_token else None))
    page = Page(grant=grant, auth=auth, nonce=nonce, path=request.url.path)
    if not grant.can("read"):
        raise _Answer(
            error_page(
                page,
                403,
                "Forbidden",
                "This token lacks the read scope, so it cannot see the dashboard. "
                "Log out and log in with a token that has the read scope.",
            )
        )
    return page


def error_page(page: Page, status: int, title: str, detail: str, **headers: str) -> Response:
    return render(
        "error.html",
        {"page": page, "title": title, "status": status, "detail": detail},
        nonce=page.nonce,
        status=status,
        headers={k.replace("_", "-"): v for k, v in headers.items()} or None,
    )


async def _serve(
    request: Request, build: Callable[[Page, Ledger], Awaitable[Response]]
) -> Response:
    """Run a page: its grant first, then `build` with the open ledger; the library's errors
    become HTML error pages (never a traceback, never JSON)."""
    try:
        page = await _page(request)
    except _Answer as answer:
        return answer.response
    except (StoreUnavailable, ProjectionBehind) as e:
        page = Page(grant=_NOBODY, auth=True, nonce=secrets.token_urlsafe(16), path="")
        log.warning("dashboard: store unavailable: %s", e)
        return _unavailable(page, request)
    try:
        ledger = await ledger_of(request)
        return await build(page, ledger)
    except InvalidQuery as e:
        return error_page(page, 400, "Invalid query", str(e))
    except (StoreUnavailable, ProjectionBehind) as e:
        log.warning("dashboard: store unavailable: %s", e)
        return _unavailable(page, request)
    except DeployLedgerError as e:
        return error_page(page, 500, "Store error", str(e))


def _unavailable(page: Page, request: Request) -> Response:
    retry_after = str(settings_of(request).retry_after)
    return error_page(
        page,
        503,
        "Store unavailable",
        "The store cannot be reached right now. Reload the page in a moment.",
        Retry_After=retry_after,
    )


# Who a page is for when not even the token could be checked (the store is down).
_NOBODY = TokenGrant(
    token_id="-",  # noqa: S106 - an id, not a secret
    name=None,
    tenants=(),
    admin=False,
    scopes=(),
    created_at=datetime(1970, 1, 1, tzinfo=UTC),
)


def _param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value or None


T = TypeVar("T")


def _in_thread(call: Callable[[], T]) -> Awaitable[T]:
    return to_thread.run_sync(call)


# -- the pages ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _stylesheet() -> str:
    return resources.files(PACKAGE).joinpath("static", STYLESHEET).read_text("utf-8")


@router.get("/static/dashboard.css")
async def stylesheet() -> Response:
    return Response(
        _stylesheet(), media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
    )


@router.get("/", response_class=HTMLResponse)
async def fleet_page(request: Request) -> Response:
    tenant, pool = _param(request, "tenant"), _param(request, "pool")
    state = _param(request, "state")

    async def build(page: Page, ledger: Ledger) -> Response:
        wanted = None
        if state is not None:
            try:
                wanted = DeploymentState.from_label(state)
            except ValueError as e:
                raise InvalidQuery(str(e)) from None
        rows = await _in_thread(lambda: fleet.workloads(ledger, page.grant, tenant, pool, None))
        counts = Counter(row.state.label for row in rows)
        shown = [row for row in rows if wanted is None or row.state is wanted]
        now = datetime.now(UTC)
        return render(
            "fleet.html",
            {
                "page": page,
                "title": "Fleet",
                "headers": presentation.FLEET_HEADERS,
                "rows": shown[:MAX_ROWS],
                "matched": len(shown),
                "total": len(rows),
                "max_rows": MAX_ROWS,
                "counts": [(label, counts.get(label, 0)) for label in STATES],
                "filters": {"tenant": tenant or "", "pool": pool or "", "state": state or ""},
                "state_wanted": wanted.label if wanted else "",
                "state_links": {
                    label: _query(tenant=tenant, pool=pool, state=label.lower()) for label in STATES
                },
                "all_link": _query(tenant=tenant, pool=pool),
                "tenant_choices": sorted(page.grant.tenants) if not page.grant.admin else [],
                "now": now,
                "pending_for": lambda s: _pending_for(s, now),
                "ago": lambda t: ago(t, now),
            },
            nonce=page.nonce,
        )

    return await _serve(request, build)


def _query(**params: str | None) -> str:
    kept = {k: v for k, v in params.items() if v}
    return "?" + urlencode(kept) if kept else "?"


def _pending_for(state: WorkloadState, now: datetime) -> str:
    age = state.pending_age(now)
    return "" if age is None else format_duration(age.total_seconds())


@dataclass(frozen=True, slots=True)
class Cell:
    """One attempt in the strip."""

    attempt: int
    success: bool
    position: int
    label: str


def strip_of(entries: Sequence[Attempt | LifecycleEntry]) -> list[Cell]:
    """The latest `STRIP_CELLS` attempts, oldest first, for the strip."""
    attempts = [e for e in entries if isinstance(e, Attempt)][:STRIP_CELLS]
    cells = []
    for a in reversed(attempts):
        outcome = "succeeded" if a.success else "failed"
        label = f"attempt {a.attempt} {outcome} at {format_time(a.occurred_at)}"
        if a.status_message:
            label += ": " + headline(a.status_message, 120)
        cells.append(Cell(a.attempt, a.success, a.position, label))
    return cells


@router.get("/workloads/{tenant}/{rt_id}", response_class=HTMLResponse)
async def workload_page(request: Request, tenant: str, rt_id: str) -> Response:
    try:
        limit = int(request.query_params.get("limit", TIMELINE_PAGE))
    except ValueError:
        limit = TIMELINE_PAGE
    limit = max(limit, 1)

    async def build(page: Page, ledger: Ledger) -> Response:
        missing = f"No workload {tenant}/{rt_id} is known."
        if not page.grant.sees(tenant):
            return error_page(page, 404, "Workload not found", missing)
        state = await _in_thread(lambda: ledger.current(tenant, rt_id))
        if state is None:
            return error_page(page, 404, "Workload not found", missing)
        entries = await _in_thread(lambda: ledger.timeline(tenant, rt_id))
        now = datetime.now(UTC)
        attempts = [e for e in entries if isinstance(e, Attempt)]
        return render(
            "workload.html",
            {
                "page": page,
                "title": f"{state.workload_name or rt_id} · {tenant}",
                "state": state,
                "entries": entries[:limit],
                "more": len(entries) - limit if len(entries) > limit else 0,
                "more_link": _query(limit=str(limit * 2)),
                "total": len(entries),
                "cells": strip_of(entries),
                "strip_first": attempts[min(len(attempts), STRIP_CELLS) - 1] if attempts else None,
                "strip_last": attempts[0] if attempts else None,
                "succeeded": sum(1 for a in attempts if a.success),
                "failed": sum(1 for a in attempts if not a.success),
                "pending_for": _pending_for(state, now),
                "ago": lambda t: ago(t, now),
                "is_attempt": lambda e: isinstance(e, Attempt),
                "values_note": values_note,
            },
            nonce=page.nonce,
        )

    return await _serve(request, build)


def values_note(request: LifecycleEntry) -> str:
    if request.values_changed is None:
        text = "first request"
    else:
        text = "values changed" if request.values_changed else "values unchanged"
    return text + (", reconciliation" if request.is_reconciliation else "")


@router.get("/overdue", response_class=HTMLResponse)
async def overdue_page(request: Request) -> Response:
    tenant, pool = _param(request, "tenant"), _param(request, "pool")
    older_text = _param(request, "older_than") or DEFAULT_OLDER_THAN

    async def build(page: Page, ledger: Ledger) -> Response:
        try:
            older_than = parse_duration(older_text)
        except ValueError as e:
            raise InvalidQuery(f"older than: {e}") from None
        found: list[Overdue] = await _in_thread(
            lambda: fleet.overdue(ledger, page.grant, older_than, tenant, pool)
        )
        return render(
            "overdue.html",
            {
                "page": page,
                "title": "Overdue",
                "headers": presentation.OVERDUE_HEADERS,
                "rows": found,
                "older_than": older_text,
                "older_than_seconds": older_than / timedelta(seconds=1),
                "filters": {"tenant": tenant or "", "pool": pool or ""},
                "tenant_choices": sorted(page.grant.tenants) if not page.grant.admin else [],
            },
            nonce=page.nonce,
        )

    return await _serve(request, build)


# -- login ----------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path of this site: `/...`, never `//host` or a URL."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


_CROSS_SITE = "A form of another site cannot log in here: open this page and log in from it."


def _cross_site(request: Request) -> bool:
    """Whether the browser says another site sent this request (`Sec-Fetch-Site`): such a
    login would put someone else's token in the cookie, such a logout is a nuisance. (The
    Origin header is not compared with Host: a reverse proxy may rewrite Host.)"""
    return request.headers.get("sec-fetch-site", "").lower() == "cross-site"


_NO_READ = (
    "This token has no read scope (it may only send reports), so it cannot open the "
    "dashboard: log in with a token that has read "
    "(deployledger token create --tenant … --scope read)."
)

_REASONS = {
    "expired": "Your token is no longer valid (revoked, or unknown): log in again.",
    "logout": "You are logged out.",
}


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    target = _safe_next(request.query_params.get("next"))
    if not settings_of(request).auth:
        return RedirectResponse(target, status_code=303)
    reason = _REASONS.get(request.query_params.get("reason", ""))
    return render("login.html", {"title": "Log in", "next": target, "error": None, "note": reason})


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request, token: str = Form(default=""), next: str = Form(default="/")
) -> Response:
    target = _safe_next(next)
    if not settings_of(request).auth:
        return RedirectResponse(target, status_code=303)
    if _cross_site(request):
        context = {"title": "Log in", "next": target, "note": None, "error": _CROSS_SITE}
        return render("login.html", context, status=403)
    token = token.strip()
    error = None
    if not token:
        error = "Paste a token: deployledger token create prints one."
    else:
        try:
            ledger = await ledger_of(request)
            grant = await _in_thread(lambda: ledger.tokens.verify(token))
        except (StoreUnavailable, ProjectionBehind):
            return render(
                "login.html",
                {
                    "title": "Log in",
                    "next": target,
                    "note": None,
                    "error": "The store cannot be reached right now: try again in a moment.",
                },
                status=503,
                headers={"Retry-After": str(settings_of(request).retry_after)},
            )
        if grant is None:
            error = "This token is malformed, unknown or revoked."
        elif not grant.can("read"):
            context = {"title": "Log in", "next": target, "note": None, "error": _NO_READ}
            return render("login.html", context, status=403)
    if error is not None:
        context = {"title": "Log in", "next": target, "error": error, "note": None}
        return render("login.html", context, status=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.api_route("/logout", methods=["GET", "POST"])
async def logout(request: Request) -> Response:
    if _cross_site(request):
        return RedirectResponse("/", status_code=303)
    target = "/login?reason=logout" if settings_of(request).auth else "/"
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(
        COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
