"""The SQL both halves of the set-based rebuild share: the temporary tables, the events'
kinds, and the few expressions SQLite and PostgreSQL write differently.

Every kind and state number in the rebuild's SQL is written by the functions here from the
domain's enums (`EventKind`, `DeploymentState`) and rules (`state_after`, `registered`),
never as a literal.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
)

from deployledger.domain.workload.aggregate import state_after
from deployledger.domain.workload.fold import registered
from deployledger.domain.workload.kinds import LIFECYCLE_KINDS, EventKind
from deployledger.projections.project import (
    ATTEMPTED,
    PROGRESSED,
    REGISTERED,
    REQUESTED,
    UNDEPLOYED,
)

KINDS = {
    REGISTERED: EventKind.REGISTERED,
    ATTEMPTED: EventKind.OUTCOME,
    REQUESTED: EventKind.REQUEST,
    PROGRESSED: EventKind.PROGRESS,
    UNDEPLOYED: EventKind.UNDEPLOY,
}
# Text fields only requests, progress messages and undeploys carry.
LIFECYCLE_TEXT = [
    "pool_rt_id",
    "workload_type",
    "chart_name",
    "chart_version",
    "repository_url",
    "hostname",
    "secret_paths",
    "overrides",
    "values_digest",
]
TEXT_FIELDS = [
    "tenant_id",
    "workload_rt_id",
    "workload_name",
    "pool_name",
    "message",
    "recorded_at",
    "reported_at",
    "occurred_at",
    "message_id",
    *LIFECYCLE_TEXT,
]
LIFECYCLE_ONLY = [
    *LIFECYCLE_TEXT,
    "is_reconciliation",
    "ingress_enabled",
    "receives_cluster_secrets",
]
BOOL_FIELDS = "success message_truncated is_reconciliation ingress_enabled receives_cluster_secrets"
FOLD_TEXT = (
    "effective_at pool_name pool_rt_id workload_type last_attempt_at last_success_at "
    "last_failure_at undeployed_at values_digest pending_chart_name pending_chart_version "
    "requested_at corr_chart_name corr_chart_version"
)

# Bind parameters every staging statement takes.
PARAMS: dict[str, Any] = {
    **{f"topic_{k}": topic for topic, k in KINDS.items()},
    "nul": b"\\u0000",  # a NUL in the JSON text
    "utc_s": "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]+00:00",
    "utc_us": "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
    ".[0-9][0-9][0-9][0-9][0-9][0-9]+00:00",
    "utc_re": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$",
}
KIND_CASE = (
    "CASE e.topic " + " ".join(f"WHEN :topic_{k} THEN {int(k)}" for k in KINDS.values()) + " END"
)
TOPICS_IN = "e.topic IN (" + ", ".join(f":topic_{k}" for k in KINDS.values()) + ")"


def kind_is(column: str, *kinds: EventKind) -> str:
    """`column` (a staged kind) is one of `kinds`."""
    if len(kinds) == 1:
        return f"{column} = {int(kinds[0])}"
    return f"{column} IN ({', '.join(str(int(k)) for k in kinds)})"


def kind_is_not(column: str, kind: EventKind) -> str:
    return f"{column} <> {int(kind)}"


def outcome_state(success: str) -> str:
    """The state an outcome leaves its workload in, given its `success` column."""
    ok, failed = (int(state_after(EventKind.OUTCOME.word, {"success": s})) for s in (True, False))
    return f"CASE WHEN {success} THEN {ok} ELSE {failed} END"


def state_case(kind: str, success: str) -> str:
    """The state a folded event (of staged kind `kind`) leaves its workload in, by the
    domain's `state_after`."""
    whens = [
        f"WHEN {int(k)} THEN "
        + (outcome_state(success) if k is EventKind.OUTCOME else str(int(state_after(k.word, {}))))
        for k in EventKind
        if k is not EventKind.REGISTERED
    ]
    return f"CASE {kind} {' '.join(whens)} END"


def lifecycle_word(kind: str) -> str:
    """A lifecycle event's kind (staged as a number) as its row names it."""
    whens = " ".join(f"WHEN {int(k)} THEN '{k.word}'" for k in LIFECYCLE_KINDS)
    return f"CASE {kind} {whens} END"


def registered_value(name: str) -> str:
    """A just-registered workload's value of a folded number column (its state, counters)."""
    value = registered()[name]
    assert isinstance(value, int)
    return str(int(value))


def staging() -> tuple[Table, ...]:
    """The temporary tables: decoded events, their fold (two steps), and failure fields."""
    meta = MetaData()

    def temporary(name: str, *columns: Column[Any]) -> Table:
        position = BigInteger().with_variant(Integer, "sqlite")  # SQLite: the rowid itself
        key = Column("position", position, primary_key=True, autoincrement=False)
        return Table(name, meta, key, *columns, prefixes=["TEMPORARY"])

    stage = temporary(
        "rebuild_stage",
        Column("padded", Text, nullable=False),  # the position, zero-padded (see `packed`)
        Column("workload_id", Text, nullable=False),
        Column("version", Integer, nullable=False),
        Column("kind", SmallInteger, nullable=False),
        Column("message_exact", LargeBinary),
        *(Column(name, Text) for name in TEXT_FIELDS),
        *(Column(name, Boolean) for name in BOOL_FIELDS.split()),
    )
    fold = temporary(
        "rebuild_fold",
        Column("padded", Text, nullable=False),
        Column("workload_id", Text, nullable=False),
        Column("kind", SmallInteger, nullable=False),
        Column("success", Boolean),
        Column("attempts", Integer, nullable=False),
        Column("failures", Integer, nullable=False),
        Column("is_last", Boolean, nullable=False),
        Column("values_changed", Boolean),
        Column("request_version", Integer),
        Column("request_position", BigInteger),
        Column("corr_request_position", BigInteger),
        Column("corr_duration", Float),
        *(Column(name, Text) for name in FOLD_TEXT.split()),
    )
    after = temporary(
        "rebuild_after",
        Column("consecutive_failures", Integer, nullable=False),
        Column("deployed_chart_name", Text),
        Column("deployed_chart_version", Text),
        Column("last_duration", Float),
    )
    failures = temporary(
        "rebuild_failures",
        Column("helm_operation", Text),
        Column("exit_code", Integer),
        Column("category", Text),
        Column("fingerprint", Text),
    )
    return stage, fold, after, failures


class Sql:
    """Expressions in the connection's dialect."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        self.position = "notification_id" if self.pg else "rowid"

    def pad(self, position: str) -> str:
        # 19 digits hold every BIGINT position, so that text order is position order.
        if self.pg:
            return f"lpad(CAST({position} AS text), 19, '0')"
        return f"printf('%019d', {position})"

    def max(self, expression: str) -> str:
        return f'max({expression} COLLATE "C")' if self.pg else f"max({expression})"

    def stamp(self, value: str) -> str:
        """A staged UTC timestamp as the read-model column stores it."""
        return f"CAST({value} || '+00' AS timestamptz)" if self.pg else value

    def seconds(self, later: str, earlier: str) -> str:
        """Seconds between two staged timestamps, as `timedelta.total_seconds()` gives them
        (whole microseconds divided once, so the float is the same)."""
        if self.pg:
            return (
                f"CAST(extract(epoch FROM {self.stamp(later)}) - "
                f"extract(epoch FROM {self.stamp(earlier)}) AS double precision)"
            )
        return (
            f"((unixepoch(substr({later}, 1, 19)) - unixepoch(substr({earlier}, 1, 19))) "
            f"* 1000000 + CAST(substr({later}, 21, 6) AS INTEGER) "
            f"- CAST(substr({earlier}, 21, 6) AS INTEGER)) / 1000000.0"
        )

    def utc(self, raw: str) -> str:
        """A stored ISO timestamp as staged UTC text, or NULL where SQL cannot convert it
        exactly (another zone: the fallback path converts it)."""
        whole = f"substr({raw}, 1, 10) || ' ' || substr({raw}, 12, 8)"
        if self.pg:
            return (
                f"CASE WHEN {raw} ~ :utc_re THEN {whole} || CASE WHEN length({raw}) = 25 "
                f"THEN '.000000' ELSE substr({raw}, 20, 7) END END"
            )
        return (
            f"CASE WHEN {raw} GLOB :utc_s THEN {whole} || '.000000' "
            f"WHEN {raw} GLOB :utc_us THEN {whole} || substr({raw}, 20, 7) END"
        )

    def packed(self, where: str, value: str, *, nullable: bool = False, at: str = "s") -> str:
        """The running "value set by the last event that sets it": the padded position with
        the value appended (a nullable one after a marker, '0' for NULL, '1' for a value)."""
        shown = f"CASE WHEN {value} IS NULL THEN '0' ELSE '1' || {value} END" if nullable else value
        return self.max(f"CASE WHEN {where} THEN {at}.padded || {shown} END")

    @staticmethod
    def unpacked(column: str, *, nullable: bool = False) -> str:
        if nullable:
            return f"CASE WHEN substr({column}, 20, 1) = '1' THEN substr({column}, 21) END"
        return f"substr({column}, 20)"
