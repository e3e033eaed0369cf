"""API tokens of the HTTP service: create, list, revoke, verify (`Ledger.tokens`).

Verification answers from a small in-process cache for a few seconds, so that a busy
service does not query the table on every request; a revocation therefore takes effect
in every process within `cache_seconds` (at once in the process that revoked).
"""

from __future__ import annotations

import hmac
import re
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from deployledger.domain.tokens import (
    MIN_HMAC_SECRET,
    SCOPES,
    TokenGrant,
    digest,
    new_token,
    signature_problem,
    token_id_of,
)
from deployledger.errors import InvalidQuery, TokenNotFound

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
CACHE_SECONDS = 5.0
CACHE_SIZE = 10_000


class TokenStorePort(Protocol):
    def add(self, grant: TokenGrant, secret_sha256: str) -> None: ...
    def find(self, token_id: str) -> tuple[TokenGrant, str] | None: ...
    def all(self) -> list[TokenGrant]: ...
    def revoke(self, token_id: str, at: datetime) -> TokenGrant: ...
    def set_hmac_secret(self, token_id: str, secret: str | None) -> TokenGrant: ...
    def hmac_secret(self, token_id: str) -> str | None: ...
    def close(self) -> None: ...


def _name(value: str, what: str) -> str:
    if not value.strip() or value != value.strip() or len(value) > 256 or _CONTROL.search(value):
        raise InvalidQuery(
            f"{what} {value!r} must be non-blank, at most 256 characters, without control "
            "characters or surrounding whitespace"
        )
    return value


class Tokens:
    """The API tokens of a store. Only a SHA-256 of each token is stored."""

    def __init__(self, store: TokenStorePort, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self._store = store
        self._cache: dict[str, tuple[float, TokenGrant | None]] = {}
        # Moved on by every emptying of the cache (a revocation, a new cache time): a
        # verification that began before one does not put its older answer back.
        self._generation = 0
        self._lock = threading.Lock()
        self.cache_seconds = cache_seconds

    def create(
        self,
        *,
        tenants: Sequence[str] = (),
        admin: bool = False,
        scopes: Sequence[str] = SCOPES,
        name: str | None = None,
    ) -> tuple[TokenGrant, str]:
        """A new token bound to `tenants` (or to every tenant, `admin=True`) and `scopes`
        (`read`, `write`). Returns its grant and the token string, which is not kept."""
        if isinstance(tenants, str):
            tenants = [tenants]
        chosen = tuple(dict.fromkeys(_name(t, "tenant") for t in tenants))
        if admin and chosen:
            raise InvalidQuery("an admin token sees every tenant: give tenants or admin, not both")
        if not admin and not chosen:
            raise InvalidQuery("a token needs at least one tenant, or admin for all tenants")
        wanted = tuple(dict.fromkeys(scopes))
        unknown = [s for s in wanted if s not in SCOPES]
        if unknown or not wanted:
            raise InvalidQuery(
                f"scopes must be among {', '.join(SCOPES)}, got {', '.join(wanted) or 'none'}"
            )
        token_id, token = new_token()
        grant = TokenGrant(
            token_id=token_id,
            name=None if name is None else _name(name, "name"),
            tenants=chosen,
            admin=admin,
            scopes=tuple(s for s in SCOPES if s in wanted),
            created_at=datetime.now(UTC),
        )
        self._store.add(grant, digest(token))
        return grant, token

    def list(self, include_revoked: bool = False) -> list[TokenGrant]:
        """Every token's grant, oldest first (never the token strings: they are not kept)."""
        grants = self._store.all()
        return grants if include_revoked else [g for g in grants if g.revoked_at is None]

    def revoke(self, token_id: str) -> TokenGrant:
        """Revoke a token, given by its id or as the token itself; `TokenNotFound` if there
        is none (a token string is never repeated in the message). Revoking twice is fine:
        the grant keeps the time of the first revocation (`revoked_at`)."""
        whole = token_id_of(token_id)
        if whole is not None:
            found = self._store.find(whole)
            if found is None or not hmac.compare_digest(found[1], digest(token_id)):
                raise TokenNotFound("no API token is the token given (see `token list`)")
            token_id = whole
        grant = self._store.revoke(token_id, datetime.now(UTC))
        with self._lock:
            self._cache.clear()
            self._generation += 1
        return grant

    def set_hmac_secret(self, token_id: str, secret: str | None) -> TokenGrant:
        """Set the key the token's signed intake is checked with (Flux `generic-hmac`), or
        clear it (None): from then on, its Flux events must carry a valid `X-Signature`
        (or, cleared, must not be signed). Given by id or as the token itself."""
        token_id = self._id_of(token_id)
        if secret is not None and (
            len(secret) < MIN_HMAC_SECRET or secret != secret.strip() or _CONTROL.search(secret)
        ):
            raise InvalidQuery(
                f"an HMAC secret must be at least {MIN_HMAC_SECRET} characters, without "
                "control characters or surrounding whitespace"
            )
        return self._store.set_hmac_secret(token_id, secret)

    def check_signature(self, token_id: str, body: bytes, header: str | None) -> str | None:
        """Why a signed-intake request of this token is refused (a missing or wrong
        `X-Signature`, or a signature sent for a token without a secret); None if not."""
        secret = self._store.hmac_secret(token_id)
        if secret is None:
            if header is not None:
                return (
                    "the request is signed but the token has no HMAC secret: set one with "
                    "`deployledger token secret`"
                )
            return None
        return signature_problem(header, body, secret)

    def _id_of(self, token_id: str) -> str:
        whole = token_id_of(token_id)
        if whole is None:
            return token_id
        found = self._store.find(whole)
        if found is None or not hmac.compare_digest(found[1], digest(token_id)):
            raise TokenNotFound("no API token is the token given (see `token list`)")
        return whole

    @property
    def cache_seconds(self) -> float:
        """How long a verification is answered from the cache (0: never cached)."""
        return self._cache_seconds

    @cache_seconds.setter
    def cache_seconds(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise InvalidQuery(f"cache_seconds must be a number of seconds, got {seconds!r}")
        if not 0 <= seconds <= 3600:
            raise InvalidQuery(f"cache_seconds must be 0 to 3600 seconds, got {seconds!r}")
        with self._lock:
            self._cache_seconds = float(seconds)
            self._cache.clear()
            self._generation += 1

    def verify(self, token: str) -> TokenGrant | None:
        """The grant of a valid, unrevoked token; None for anything else."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(token)
            generation = self._generation
        if cached is not None and cached[0] > now:
            return cached[1]
        grant = self._check(token)
        with self._lock:
            if self._cache_seconds <= 0 or generation != self._generation:
                return grant
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[token] = (now + self._cache_seconds, grant)
        return grant

    def _check(self, token: str) -> TokenGrant | None:
        token_id = token_id_of(token)
        if token_id is None:
            return None
        found = self._store.find(token_id)
        if found is None:
            return None
        grant, stored = found
        if not hmac.compare_digest(stored, digest(token)) or grant.revoked_at is not None:
            return None
        return grant

    def close(self) -> None:
        self._store.close()
