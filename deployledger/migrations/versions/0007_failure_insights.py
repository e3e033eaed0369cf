"""Failure insights: `category` and `fingerprint` of every failed outcome on
`deployment_attempts` (NULL for successes), their indexes, and `failure_rules`, the version
of the rules they were derived with.

A store written before gets both columns filled here from the messages already stored,
with the rules of the release that runs this migration (that version is recorded).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from deployledger.domain.insights.failures import RULES_VERSION, categorize, fingerprint

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 5000
FAILED = sa.text("fingerprint IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("deployment_attempts") as batch:
        batch.add_column(sa.Column("category", sa.String(32)))
        batch.add_column(sa.Column("fingerprint", sa.String(16)))
    op.create_index(
        "ix_deployment_attempts_category_position", "deployment_attempts", ["category", "position"]
    )
    op.create_index(
        "ix_deployment_attempts_fingerprint_position",
        "deployment_attempts",
        ["fingerprint", "position"],
    )
    op.create_index(
        "ix_deployment_attempts_failures_by_time",
        "deployment_attempts",
        ["occurred_at", "position"],
        postgresql_where=FAILED,
        sqlite_where=FAILED,
    )
    op.create_index(
        "ix_deployment_attempts_failures_by_tenant",
        "deployment_attempts",
        ["tenant_id", "occurred_at"],
        postgresql_where=FAILED,
        sqlite_where=FAILED,
    )
    op.create_table(
        "failure_rules",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_failure_rules"),
    )
    _classify_failures()


def _classify_failures() -> None:
    """Category and fingerprint of the failed outcomes already stored, from their messages
    (exact bytes when the text column could not hold them), in batches by position."""
    bind = op.get_bind()
    after = -1
    select = sa.text(
        "SELECT position, status_message, status_message_exact FROM deployment_attempts "
        "WHERE success = :failed AND position > :after ORDER BY position LIMIT :n"
    ).bindparams(sa.bindparam("failed", type_=sa.Boolean()))
    update = sa.text(
        "UPDATE deployment_attempts SET category = :c, fingerprint = :f WHERE position = :p"
    )
    while True:
        rows = bind.execute(select, {"failed": False, "after": after, "n": BATCH}).all()
        if not rows:
            break
        updates = []
        for position, text, exact in rows:
            message = bytes(exact).decode("utf-8") if exact is not None else text
            updates.append({"p": position, "c": categorize(message), "f": fingerprint(message)})
        bind.execute(update, updates)
        after = rows[-1][0]
    rules = sa.table(
        "failure_rules", sa.column("name"), sa.column("version"), sa.column("applied_at")
    )
    bind.execute(
        sa.insert(rules).values(
            name="failures", version=RULES_VERSION, applied_at=datetime.now(UTC)
        )
    )


def downgrade() -> None:
    op.drop_table("failure_rules")
    op.drop_index("ix_deployment_attempts_failures_by_tenant", table_name="deployment_attempts")
    op.drop_index("ix_deployment_attempts_failures_by_time", table_name="deployment_attempts")
    op.drop_index("ix_deployment_attempts_fingerprint_position", table_name="deployment_attempts")
    op.drop_index("ix_deployment_attempts_category_position", table_name="deployment_attempts")
    with op.batch_alter_table("deployment_attempts") as batch:
        batch.drop_column("fingerprint")
        batch.drop_column("category")
