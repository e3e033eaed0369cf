"""Intake (issue 23): `api_tokens.hmac_secret`, the key a token's Flux `generic-hmac`
events are signed with. Kept as given (an HMAC needs the key itself), never shown.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("hmac_secret", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("hmac_secret")
