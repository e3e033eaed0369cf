"""API tokens in the store's database (table `api_tokens`), through SQLAlchemy Core."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import insert, select, update

from deployledger.domain.tokens import TokenGrant
from deployledger.errors import TokenNotFound
from deployledger.store.database import LazyEngine, aware
from deployledger.store.errors import translated
from deployledger.store.readmodel.tables import api_tokens


def _grant(row: object) -> TokenGrant:
    r = row._mapping  # type: ignore[attr-defined]
    created = aware(r["created_at"])
    assert created is not None
    return TokenGrant(
        token_id=r["token_id"],
        name=r["name"],
        tenants=tuple(json.loads(r["tenants"])),
        admin=bool(r["admin"]),
        scopes=tuple(s for s in r["scopes"].split(",") if s),
        created_at=created,
        revoked_at=aware(r["revoked_at"]),
    )


class TokenStore(LazyEngine):
    """Rows of `api_tokens`; the engine is made on first use."""

    def add(self, grant: TokenGrant, secret_sha256: str) -> None:
        with translated(self.url), self.engine.begin() as conn:
            conn.execute(
                insert(api_tokens).values(
                    token_id=grant.token_id,
                    name=grant.name,
                    secret_sha256=secret_sha256,
                    tenants=json.dumps(list(grant.tenants), ensure_ascii=False),
                    admin=grant.admin,
                    scopes=",".join(grant.scopes),
                    created_at=grant.created_at,
                    revoked_at=None,
                )
            )

    def find(self, token_id: str) -> tuple[TokenGrant, str] | None:
        """The grant and stored digest of a token id (revoked ones too), or None."""
        with translated(self.url), self.engine.connect() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).first()
        return None if row is None else (_grant(row), row.secret_sha256)

    def all(self) -> list[TokenGrant]:
        with translated(self.url), self.engine.connect() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_at)).all()
        return [_grant(row) for row in rows]

    def set_hmac_secret(self, token_id: str, secret: str | None) -> TokenGrant:
        """Set (or, with None, clear) the key of the token's signed intake."""
        with translated(self.url), self.engine.begin() as conn:
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.token_id == token_id)
                .values(hmac_secret=secret)
            )
        found = self.find(token_id)
        if found is None:
            raise TokenNotFound(f"no API token has the id {token_id!r} (see `token list`)")
        return found[0]

    def hmac_secret(self, token_id: str) -> str | None:
        """The key of the token's signed intake, or None when it has none."""
        with translated(self.url), self.engine.connect() as conn:
            secret = conn.execute(
                select(api_tokens.c.hmac_secret).where(api_tokens.c.token_id == token_id)
            ).scalar()
        return None if secret is None else str(secret)

    def revoke(self, token_id: str, at: datetime) -> TokenGrant:
        with translated(self.url), self.engine.begin() as conn:
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
        found = self.find(token_id)
        if found is None:
            raise TokenNotFound(f"no API token has the id {token_id!r} (see `token list`)")
        return found[0]
