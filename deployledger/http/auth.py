"""Who is asking: the token's grant, from `Authorization: Bearer <token>` or the dashboard's
cookie `deployledger_token`, and the dependencies that demand a scope.

A missing, malformed, unknown or revoked token answers 401 (with `WWW-Authenticate:
Bearer`); a token without the scope an operation needs answers 403. With auth off
(`serve --no-auth`, loopback only) every request gets an admin grant.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from anyio import to_thread
from fastapi import Request

from deployledger import TokenGrant
from deployledger.http.problems import HTTPProblem
from deployledger.http.state import ledger_of, settings_of

COOKIE = "deployledger_token"
SCOPES = ("read", "write")


# The grant of every request when auth is off: every tenant, every scope.
OPEN = TokenGrant(
    token_id="no-auth",  # noqa: S106 - a name, not a secret
    name="--no-auth",
    tenants=(),
    admin=True,
    scopes=SCOPES,
    created_at=datetime(1970, 1, 1, tzinfo=UTC),
)
Grant = TokenGrant


def token_of(request: Request) -> str | None:
    """The bearer token of the request, or the dashboard's cookie; None if neither."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else ""
    return request.cookies.get(COOKIE)


async def grant_for(request: Request) -> TokenGrant | None:
    """The grant of the request's token; None when it has none, or one that is malformed,
    unknown or revoked. With auth off, the admin grant."""
    if not settings_of(request).auth:
        return OPEN
    token = token_of(request)
    if not token:
        return None
    ledger = await ledger_of(request)
    return await to_thread.run_sync(ledger.tokens.verify, token)


def unauthorized(detail: str, error: str | None = None) -> HTTPProblem:
    challenge = 'Bearer realm="deployledger"'
    if error:
        challenge += f', error="{error}"'
    return HTTPProblem(
        401,
        detail,
        kind="unauthorized",
        title="Unauthorized",
        headers={"WWW-Authenticate": challenge},
    )


def require(scope: str) -> Callable[[Request], Awaitable[Grant]]:
    """A dependency: the request's grant, which must hold `scope` (401 or 403 otherwise)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(request: Request) -> Grant:
        grant = await grant_for(request)
        if grant is None:
            if token_of(request) is None:
                raise unauthorized("a token is required: send Authorization: Bearer <token>")
            raise unauthorized("the token is malformed, unknown or revoked", "invalid_token")
        if not grant.can(scope):
            raise HTTPProblem(
                403,
                f"the token lacks the {scope!r} scope",
                kind="forbidden",
                title="Forbidden",
                headers={
                    "WWW-Authenticate": (
                        f'Bearer realm="deployledger", error="insufficient_scope", scope="{scope}"'
                    )
                },
            )
        request.state.grant = grant
        return grant

    return dependency
