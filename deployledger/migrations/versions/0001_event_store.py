"""Event store: the tables eventsourcing reads and writes, created once.

Mirrors the DDL of eventsourcing 9.5's SQLite and PostgreSQL recorders for the
`deployledger` application (events with a global notification id, and
snapshots). Creating it here, once, lets workers open with table creation off.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_AUTOVACUUM = (
    "WITH (autovacuum_enabled = true, autovacuum_vacuum_threshold = 100000000, "
    "autovacuum_vacuum_scale_factor = 0.5, autovacuum_analyze_threshold = 1000, "
    "autovacuum_analyze_scale_factor = 0.01)"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE IF NOT EXISTS deployledger_events ("
            "originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
            "topic text, state bytea, notification_id bigserial, "
            f"PRIMARY KEY (originator_id, originator_version)) {_AUTOVACUUM}"
        )
        op.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS deployledger_events_notification_id_idx "
            "ON deployledger_events (notification_id ASC)"
        )
        op.execute(
            "DO $$ BEGIN "
            "CREATE TYPE stored_event_uuid AS (originator_id uuid, "
            "originator_version bigint, topic text, state bytea); "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        op.execute(
            "CREATE TABLE IF NOT EXISTS deployledger_snapshots ("
            "originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
            f"topic text, state bytea, PRIMARY KEY (originator_id, originator_version)) "
            f"{_AUTOVACUUM}"
        )
    else:
        op.execute(
            "CREATE TABLE IF NOT EXISTS stored_events (originator_id TEXT, "
            "originator_version INTEGER, topic TEXT, state BLOB, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        op.execute(
            "CREATE TABLE IF NOT EXISTS stored_snapshots (originator_id TEXT, "
            "originator_version INTEGER, topic TEXT, state BLOB, "
            "PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE IF EXISTS deployledger_snapshots")
        op.execute("DROP TABLE IF EXISTS deployledger_events")
        op.execute("DROP TYPE IF EXISTS stored_event_uuid")
    else:
        op.execute("DROP TABLE IF EXISTS stored_snapshots")
        op.execute("DROP TABLE IF EXISTS stored_events")
