"""API tokens of the HTTP service: what a token may do, and the token strings. Pure.

A token is `dlt_<12 hex id>_<43 url-safe characters>`: the id finds its row, the rest is
256 random bits. Only the SHA-256 of the whole string is stored (a token is high-entropy,
so a fast hash is enough, as GitHub does for its tokens); the string is shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SCOPES = ("read", "write")
PREFIX = "dlt_"
_TOKEN = re.compile(r"^dlt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What one API token grants: tenants (or all of them, `admin`) and scopes."""

    token_id: str
    name: str | None
    tenants: tuple[str, ...]
    admin: bool
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    def sees(self, tenant: str) -> bool:
        return self.admin or tenant in self.tenants

    def to_json(self) -> dict[str, Any]:
        return {
            "tokenId": self.token_id,
            "name": self.name,
            "tenants": list(self.tenants),
            "admin": self.admin,
            "scopes": list(self.scopes),
            "createdAt": self.created_at.isoformat(),
            "revokedAt": None if self.revoked_at is None else self.revoked_at.isoformat(),
        }


def new_token() -> tuple[str, str]:
    """(token id, token string)."""
    token_id = secrets.token_hex(6)
    return token_id, f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"


def token_id_of(token: str) -> str | None:
    """The id of a well-formed token string, else None."""
    match = _TOKEN.match(token)
    return None if match is None else match.group(1)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# Flux `generic-hmac`: `X-Signature: <hash>=<hex HMAC of the body>`, keyed by the secret.
SIGNATURE_HASHES = ("sha224", "sha256", "sha384", "sha512")  # as Flux documents them
MIN_HMAC_SECRET = 16


def signature_problem(header: str | None, body: bytes, secret: str) -> str | None:
    """Why `header` is not a valid signature of `body` under `secret`; None when it is."""
    if header is None or not header.strip():
        return "the X-Signature header is required: this token's intake is signed (generic-hmac)"
    name, sep, given = header.strip().partition("=")
    name = name.strip().lower()
    if not sep or name not in SIGNATURE_HASHES:
        return f"the X-Signature header must be <{'|'.join(SIGNATURE_HASHES)}>=<hex digest>"
    expected = hmac.new(secret.encode("utf-8"), body, getattr(hashlib, name)).hexdigest()
    if not hmac.compare_digest(expected, given.strip().lower()):
        return "the X-Signature does not match the body: wrong secret, or the body changed"
    return None
