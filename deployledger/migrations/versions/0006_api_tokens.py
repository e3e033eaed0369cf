"""API tokens of the HTTP service (`api_tokens`): only a SHA-256 of each token is kept.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(256)),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("tenants", sa.Text, nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("scopes", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
        sa.PrimaryKeyConstraint("token_id", name="pk_api_tokens"),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
