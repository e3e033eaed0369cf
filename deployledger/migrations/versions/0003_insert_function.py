"""PostgreSQL: insert a transaction's events in one round trip.

The library's recorder pipelines BEGIN, SET LOCAL lock_timeout, LOCK TABLE, NOTIFY,
INSERT and COMMIT, which still costs several waits per write. This function does the
same work in one statement: in autocommit mode the call is one round trip, and the table
lock keeps insert order equal to commit order, as the library's does. The events travel
as four arrays in binary, which is far cheaper to encode than an array of composites.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION deployledger_insert_events(
            ids uuid[], versions bigint[], topics text[], states bytea[], lock_timeout text
        ) RETURNS SETOF bigint LANGUAGE plpgsql
        SET search_path FROM CURRENT  -- the schema it was migrated into, whoever calls it
        AS $$
        BEGIN
            PERFORM set_config('lock_timeout', lock_timeout, true);
            LOCK TABLE deployledger_events IN EXCLUSIVE MODE;
            NOTIFY deployledger_events;
            RETURN QUERY
                INSERT INTO deployledger_events
                    (originator_id, originator_version, topic, state)
                SELECT * FROM unnest(ids, versions, topics, states)
                RETURNING notification_id;
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "DROP FUNCTION IF EXISTS "
        "deployledger_insert_events(uuid[], bigint[], text[], bytea[], text)"
    )
