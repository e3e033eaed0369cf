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
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    false,
    text,
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
        Column("pool_rt_id", ID),
        Column("workload_type", String(16)),
        Column("deployed_chart_name", ID),
        Column("deployed_chart_version", ID),
        Column("pending_chart_name", ID),
        Column("pending_chart_version", ID),
        Column("requested_at", DateTime(timezone=True)),  # set while a request is open
        Column("request_version", Integer),
        Column("request_position", BigInteger),
        Column("values_digest", String(80)),
        Column("last_duration", Float),
        Column("undeployed_at", DateTime(timezone=True)),
        Column("effective_at", DateTime(timezone=True)),  # of its last event (see history)
        Index(None, "state", "tenant_id"),
        Index(None, "pool_name", "tenant_id"),
        Index(None, "pool_rt_id", "tenant_id"),
        # Overdue deploys: only workloads with an open request are in this index, so a
        # query reads the overdue set, not the fleet.
        Index(
            f"ix_{name}_open_requests",
            "requested_at",
            postgresql_where=text("requested_at IS NOT NULL"),
            sqlite_where=text("requested_at IS NOT NULL"),
        ),
        # The same per tenant: SQLite plans without statistics and would otherwise read the
        # whole tenant through the primary key for `overdue(tenant_id=T)`.
        Index(
            f"ix_{name}_open_requests_by_tenant",
            "tenant_id",
            "requested_at",
            postgresql_where=text("requested_at IS NOT NULL"),
            sqlite_where=text("requested_at IS NOT NULL"),
        ),
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
        Column("chart_name", ID),
        Column("chart_version", ID),
        Column("request_position", BigInteger),
        Column("duration", Float),  # seconds from request to outcome
        Column("helm_operation", Text),
        Column("exit_code", Integer),
        # Failed outcomes only (NULL for successes): derived by `domain.failures`, rewritten
        # by `reclassify` when its rules change.
        Column("category", String(32)),
        Column("fingerprint", String(16)),
        Index(None, "tenant_id", "workload_rt_id", "position"),
        Index(None, "tenant_id", "success", "position"),
        Index(None, "tenant_id", "position"),
        Index(None, "pool_name", "position"),
        Index(None, "workload_name", "position"),
        Index(None, "workload_rt_id", "position"),
        Index(None, "success", "position"),
        Index(None, "occurred_at"),
        Index(None, "category", "position"),
        Index(None, "fingerprint", "position"),
        # `failures(since=...)`: the failures of a period, fleet-wide or per tenant, without
        # reading the successes (SQLite, without statistics, would otherwise walk every
        # failure through the `success` index).
        Index(
            f"ix_{name}_failures_by_time",
            "occurred_at",
            "position",  # so that no other index has the same columns (rebuild pairs them)
            postgresql_where=text("fingerprint IS NOT NULL"),
            sqlite_where=text("fingerprint IS NOT NULL"),
        ),
        Index(
            f"ix_{name}_failures_by_tenant",
            "tenant_id",
            "occurred_at",
            postgresql_where=text("fingerprint IS NOT NULL"),
            sqlite_where=text("fingerprint IS NOT NULL"),
        ),
    )


def _lifecycle_table(name: str, meta: MetaData) -> Table:
    """Deploy requests, progress messages and undeploys: a workload's timeline besides its
    outcomes. No secret is ever stored here (see `deployledger.domain.messages.lifecycle`)."""
    return Table(
        name,
        meta,
        Column("position", BigInteger, primary_key=True, autoincrement=False),
        Column("tenant_id", ID, nullable=False),
        Column("workload_rt_id", ID, nullable=False),
        Column("kind", String(16), nullable=False),  # request, progress or undeploy
        Column("recorded_at", DateTime(timezone=True), nullable=False),
        Column("reported_at", DateTime(timezone=True)),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("workload_name", ID, nullable=False),
        Column("message_id", ID),
        Column("pool_rt_id", ID),
        Column("workload_type", String(16)),
        Column("chart_name", ID),
        Column("chart_version", ID),
        Column("repository_url", Text),
        Column("is_reconciliation", Boolean),
        Column("ingress_enabled", Boolean),
        Column("hostname", ID),
        Column("receives_cluster_secrets", Boolean),
        Column("secret_paths", Text),  # JSON array of paths
        Column("overrides", Text),  # JSON array of {path, value}: the non-secret ones
        Column("values_digest", String(80)),
        Column("values_changed", Boolean),
        Column("message", Text),
        Column("message_exact", LargeBinary),
        Column("message_truncated", Boolean, nullable=False, server_default=false()),
        Index(None, "tenant_id", "workload_rt_id", "position"),
        Index(None, "kind", "position"),
    )


def _history_table(name: str, meta: MetaData) -> Table:
    """The fleet at a past moment: a workload's state after each of its events, with the
    event's effective time (see `deployledger.projections.history`)."""
    return Table(
        name,
        meta,
        Column("position", BigInteger, primary_key=True, autoincrement=False),
        Column("tenant_id", ID, nullable=False),
        Column("workload_rt_id", ID, nullable=False),
        Column("effective_at", DateTime(timezone=True), nullable=False),
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
        Column("pool_rt_id", ID),
        Column("workload_type", String(16)),
        Column("deployed_chart_name", ID),
        Column("deployed_chart_version", ID),
        Column("pending_chart_name", ID),
        Column("pending_chart_version", ID),
        Column("requested_at", DateTime(timezone=True)),
        Column("last_duration", Float),
        Column("undeployed_at", DateTime(timezone=True)),
        # One backward seek per workload finds its state as of T.
        Index(f"ix_{name}_as_of", "tenant_id", "workload_rt_id", "effective_at", "position"),
    )


def _pools_table(name: str, meta: MetaData) -> Table:
    """Every pool (name or runtime id) each workload was ever in: the candidates of a
    pool's fleet at a past moment."""
    return Table(
        name,
        meta,
        Column("pool", ID, primary_key=True),
        Column("tenant_id", ID, primary_key=True),
        Column("workload_rt_id", ID, primary_key=True),
    )


workload_state = _state_table("workload_state", metadata)
deployment_attempts = _attempts_table("deployment_attempts", metadata)
lifecycle_events = _lifecycle_table("lifecycle_events", metadata)
workload_history = _history_table("workload_history", metadata)
workload_pools = _pools_table("workload_pools", metadata)

projection_tracking = Table(
    "projection_tracking",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

# The version of the failure rules (`domain.failures.RULES_VERSION`) the stored categories
# and fingerprints were derived with: `reclassify` rewrites them when the code's differs.
failure_rules = Table(
    "failure_rules",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

# API tokens of the HTTP service: not part of the read model (a rebuild never touches it).
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("name", ID),
    Column("secret_sha256", String(64), nullable=False),
    Column("tenants", Text, nullable=False),  # JSON array of tenant ids
    Column("admin", Boolean, nullable=False),
    Column("scopes", String(64), nullable=False),  # comma-separated
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    # The key of the token's signed intake (Flux generic-hmac), as given: never shown.
    Column("hmac_secret", Text),
)

# The tamper-evident log (issue 11): an RFC 9162 Merkle tree over every stored event, kept
# by the projection runner in the same transaction as its tracking position. Not part of the
# read model: a rebuild only advances it. `log_state` holds the compact frontier (one hash
# per set bit of the size), `log_leaves` each event's leaf hash (to locate a change), and
# `log_checkpoints` the signed checkpoint notes, the note text being the record.
log_state = Table(
    "log_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("frontier", LargeBinary, nullable=False),
)

log_leaves = Table(
    "log_leaves",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False, unique=True),
    Column("leaf_hash", LargeBinary, nullable=False),
)

log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column("checkpoint_id", Integer, primary_key=True, autoincrement=True),
    Column("origin", ID, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("note", Text, nullable=False),
)

# Notification sinks (issue 23): each sink's settings and its cursor (the last position
# delivered or dead-lettered), moved in the same transaction as its bookkeeping. Not part of
# the read model: a rebuild never touches them.
sinks = Table(
    "sinks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("secret", Text),
    Column("filter", Text, nullable=False),
    Column("spec", String(16), nullable=False),
    Column("slack_text", Boolean, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("backoff", Float, nullable=False),
    Column("timeout", Float, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False),  # of the delivery at the head, so far
    Column("last_error", Text),
    Column("next_try_at", DateTime(timezone=True)),
)

sink_dead_letters = Table(
    "sink_dead_letters",
    metadata,
    Column("sink", String(64), primary_key=True),
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", ID, nullable=False),
    Column("workload_rt_id", ID, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=False),
    Column("dead_at", DateTime(timezone=True), nullable=False),
    Column("retry", Boolean, nullable=False),
)

READ_MODEL_TABLES = (
    "workload_state",
    "deployment_attempts",
    "lifecycle_events",
    "workload_history",
    "workload_pools",
)


def shadow_tables(suffix: str) -> tuple[MetaData, Table, Table, Table, Table, Table]:
    """Fresh copies of the read-model tables, named `<table>_<suffix>`, for a rebuild beside the
    live ones. Their constraint and index names carry the suffix too."""
    meta = MetaData(naming_convention=NAMING)
    state = _state_table(f"workload_state_{suffix}", meta)
    attempts = _attempts_table(f"deployment_attempts_{suffix}", meta)
    lifecycle = _lifecycle_table(f"lifecycle_events_{suffix}", meta)
    history = _history_table(f"workload_history_{suffix}", meta)
    pools = _pools_table(f"workload_pools_{suffix}", meta)
    return meta, state, attempts, lifecycle, history, pools
