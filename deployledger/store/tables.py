"""The read-model schema (SQLAlchemy 2 Core). Alembic migrations must match it exactly.

Status messages are stored losslessly: `status_message` is searchable text, and
when the exact text cannot be stored as text (PostgreSQL `text` rejects NUL),
`status_message_exact` keeps its UTF-8 bytes and is the value read back.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    false,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}
ID = String(256)

metadata = MetaData(naming_convention=NAMING)


def _state_table(name: str, meta: MetaData) -> Table:
    return Table(
        name,
        meta,
        Column("tenant_id", ID, primary_key=True),
        Column("workload_rt_id", ID, primary_key=True),
        Column("workload_id", String(32), nullable=False, unique=True),
        Column("workload_name", ID),
        Column("pool_name", ID),
        Column("state", SmallInteger, nullable=False),
        Column("status_message", Text),
        Column("status_message_exact", LargeBinary),
        Column("attempts", Integer, nullable=False),
        Column("failures", Integer, nullable=False),
        Column("consecutive_failures", Integer, nullable=False),
        Column("last_attempt_at", DateTime(timezone=True)),
        Column("last_success_at", DateTime(timezone=True)),
        Column("last_failure_at", DateTime(timezone=True)),
        Column("last_position", BigInteger, nullable=False),
        Index(None, "state", "tenant_id"),
        Index(None, "pool_name", "tenant_id"),
    )


def _attempts_table(name: str, meta: MetaData) -> Table:
    return Table(
        name,
        meta,
        Column("position", BigInteger, primary_key=True, autoincrement=False),
        Column("tenant_id", ID, nullable=False),
        Column("workload_rt_id", ID, nullable=False),
        Column("attempt", Integer, nullable=False),
        Column("recorded_at", DateTime(timezone=True), nullable=False),
        Column("reported_at", DateTime(timezone=True)),
        Column("occurred_at", DateTime(timezone=True), nullable=False),  # reported, else recorded
        Column("success", Boolean, nullable=False),
        Column("state", SmallInteger, nullable=False),
        Column("status_message", Text),
        Column("status_message_exact", LargeBinary),
        Column("workload_name", ID, nullable=False),
        Column("pool_name", ID),
        Column("message_id", ID),
        Column("message_truncated", Boolean, nullable=False, server_default=false()),
        Index(None, "tenant_id", "workload_rt_id", "position"),
        Index(None, "tenant_id", "success", "position"),
        Index(None, "tenant_id", "position"),
        Index(None, "pool_name", "position"),
        Index(None, "workload_name", "position"),
        Index(None, "workload_rt_id", "position"),
        Index(None, "success", "position"),
        Index(None, "occurred_at"),
    )


workload_state = _state_table("workload_state", metadata)
deployment_attempts = _attempts_table("deployment_attempts", metadata)

projection_tracking = Table(
    "projection_tracking",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

READ_MODEL_TABLES = ("workload_state", "deployment_attempts")


def shadow_tables(suffix: str) -> tuple[MetaData, Table, Table]:
    """Fresh copies of the read-model tables, named `<table>_<suffix>`, for a rebuild beside the
    live ones. Their constraint and index names carry the suffix too."""
    meta = MetaData(naming_convention=NAMING)
    state = _state_table(f"workload_state_{suffix}", meta)
    attempts = _attempts_table(f"deployment_attempts_{suffix}", meta)
    return meta, state, attempts
