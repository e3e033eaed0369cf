"""The rebuild's projection, set-based: every event folded inside the database.

The same rules as `deployledger.projections` (which the live runner keeps using), as SQL:

1. **Stage**, in position-ranged chunks: `INSERT … SELECT` decodes each stored event's
   JSON into typed columns (`json_extract` on SQLite, `json_to_record` on PostgreSQL), with
   timestamps as UTC text in SQLAlchemy's SQLite storage format. Events SQL cannot decode
   exactly take the fallback path, the Python projection's own row builders: a message
   holding NUL (PostgreSQL `text` rejects it; it is kept as bytes) and a timestamp that is
   not UTC. Failure categories, fingerprints and helm's operation and exit code come from
   `domain.failures` and `domain.messages`, in Python, for failed and helm-shaped outcomes.
2. **Fold**, with window functions over each workload's events in position order: running
   sums for the counters, a running maximum for the effective time, and "the value set by
   the last event that sets it" as the running maximum of the zero-padded position with
   the value appended. The request an outcome closes is the last request, outcome or
   undeploy before it, when that is a request.
3. **Write** the history, attempt, lifecycle, state and pool rows from the fold, each with
   one `INSERT … SELECT` in position order, into tables with no secondary index yet.

The staging tables are temporary: they live in the one connection and vanish with it.
"""

from __future__ import annotations

from collections.abc import Callable
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
    insert,
    text,
)
from sqlalchemy.schema import CreateTable

from deployledger.projections.project import (
    ATTEMPTED,
    LIFECYCLE,
    PROGRESSED,
    REGISTERED,
    REQUESTED,
    UNDEPLOYED,
    EventRecord,
    attempt_row,
    decode_message,
    lifecycle_row,
)
from deployledger.store.bulk import bulk_insert, sqlite_time
from deployledger.store.classify import BATCH, Classifier, Row
from deployledger.store.runner import ReadModelTables

KINDS = {REGISTERED: 0, ATTEMPTED: 1, REQUESTED: 2, PROGRESSED: 3, UNDEPLOYED: 4}
_TEXT = [
    "tenant_id",
    "workload_rt_id",
    "workload_name",
    "pool_name",
    "message",
    "recorded_at",
    "reported_at",
    "occurred_at",
    "message_id",
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
# Fields only requests, progress messages and undeploys carry.
_LIFECYCLE_ONLY = [
    "pool_rt_id",
    "workload_type",
    "chart_name",
    "chart_version",
    "repository_url",
    "hostname",
    "secret_paths",
    "overrides",
    "values_digest",
    "is_reconciliation",
    "ingress_enabled",
    "receives_cluster_secrets",
]
_BOOL = "success message_truncated is_reconciliation ingress_enabled receives_cluster_secrets"
_FOLD_TEXT = (
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
_KIND = "CASE e.topic " + " ".join(f"WHEN :topic_{k} THEN {k}" for k in KINDS.values()) + " END"
_TOPICS = "e.topic IN (" + ", ".join(f":topic_{k}" for k in KINDS.values()) + ")"


def staging() -> tuple[Table, ...]:
    """The temporary tables: decoded events, their fold (two steps), and failure fields."""
    meta = MetaData()
    position = BigInteger().with_variant(Integer, "sqlite")  # SQLite: the rowid itself
    stage = Table(
        "rebuild_stage",
        meta,
        Column("position", position, primary_key=True, autoincrement=False),
        Column("workload_id", Text, nullable=False),
        Column("version", Integer, nullable=False),
        Column("kind", SmallInteger, nullable=False),
        Column("message_exact", LargeBinary),
        *(Column(name, Text) for name in _TEXT),
        *(Column(name, Boolean) for name in _BOOL.split()),
        prefixes=["TEMPORARY"],
    )
    fold = Table(
        "rebuild_fold",
        meta,
        Column("position", position, primary_key=True, autoincrement=False),
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
        *(Column(name, Text) for name in _FOLD_TEXT.split()),
        prefixes=["TEMPORARY"],
    )
    failures = Table(
        "rebuild_failures",
        meta,
        Column("position", position, primary_key=True, autoincrement=False),
        Column("helm_operation", Text),
        Column("exit_code", Integer),
        Column("category", Text),
        Column("fingerprint", Text),
        prefixes=["TEMPORARY"],
    )
    after = Table(
        "rebuild_after",
        meta,
        Column("position", position, primary_key=True, autoincrement=False),
        Column("consecutive_failures", Integer, nullable=False),
        Column("deployed_chart_name", Text),
        Column("deployed_chart_version", Text),
        Column("last_duration", Float),
        prefixes=["TEMPORARY"],
    )
    return stage, fold, after, failures


class SetFold:
    """The set-based projection of events (at positions <= `upto`) into `tables`, on one
    connection of the events' own database."""

    def __init__(
        self, conn: Connection, tables: ReadModelTables, events_table: str, upto: int
    ) -> None:
        self.conn = conn
        self.tables = tables
        self.events_table = events_table
        self.upto = upto
        self.pg = conn.dialect.name == "postgresql"
        self.position = "notification_id" if self.pg else "rowid"
        self.staging = staging()
        self.stage, self.fold, _, self.failures = self.staging
        self.classifier = Classifier(lambda rows: self._write(self.failures, rows))

    # -- dialect --------------------------------------------------------------------------

    def _pad(self, position: str) -> str:
        # 19 digits hold every BIGINT position, so that text order is position order.
        if self.pg:
            return f"lpad(CAST({position} AS text), 19, '0')"
        return f"printf('%019d', {position})"

    def _max(self, expression: str) -> str:
        return f'max({expression} COLLATE "C")' if self.pg else f"max({expression})"

    def _stamp(self, value: str) -> str:
        """A staged UTC timestamp as the read-model column stores it."""
        return f"CAST({value} || '+00' AS timestamptz)" if self.pg else value

    def _seconds(self, later: str, earlier: str) -> str:
        """Seconds between two staged timestamps, as `timedelta.total_seconds()` gives them
        (whole microseconds divided once, so the float is the same)."""
        if self.pg:
            return (
                f"CAST(extract(epoch FROM {self._stamp(later)}) - "
                f"extract(epoch FROM {self._stamp(earlier)}) AS double precision)"
            )
        return (
            f"((unixepoch(substr({later}, 1, 19)) - unixepoch(substr({earlier}, 1, 19))) "
            f"* 1000000 + CAST(substr({later}, 21, 6) AS INTEGER) "
            f"- CAST(substr({earlier}, 21, 6) AS INTEGER)) / 1000000.0"
        )

    def _utc(self, raw: str) -> str:
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

    def _packed(self, where: str, value: str, *, nullable: bool = False, at: str = "s") -> str:
        """The running "value set by the last event that sets it": the padded position with
        the value appended (a nullable one after a marker, '0' for NULL, '1' for a value)."""
        shown = f"CASE WHEN {value} IS NULL THEN '0' ELSE '1' || {value} END" if nullable else value
        return self._max(f"CASE WHEN {where} THEN {self._pad(at + '.position')} || {shown} END")

    @staticmethod
    def _unpacked(column: str, *, nullable: bool = False) -> str:
        if nullable:
            return f"CASE WHEN substr({column}, 20, 1) = '1' THEN substr({column}, 21) END"
        return f"substr({column}, 20)"

    # -- the steps ------------------------------------------------------------------------

    def create(self) -> None:
        for table in self.staging:
            self.conn.execute(text(f"DROP TABLE IF EXISTS {table.name}"))
            self.conn.execute(CreateTable(table))

    def stage_chunk(
        self, after: int, upto: int, decode: Callable[[list[tuple[Any, ...]]], list[EventRecord]]
    ) -> int:
        """Stage the events at positions in (after, upto]; return how many were staged.
        `decode(rows)` decodes stored-event rows for the fallback path."""
        params = {**PARAMS, "lo": after, "hi": upto}
        staged = self.conn.execute(text(self._stage_sql()), params).rowcount
        position = "notification_id" if self.pg else "rowid"
        left = self.conn.execute(
            text(
                f"SELECT e.{position}, e.originator_id, e.originator_version, e.topic, e.state "
                f"FROM {self.events_table} e WHERE e.{position} > :lo AND e.{position} <= :hi "
                f"AND {_TOPICS} AND NOT EXISTS "
                f"(SELECT 1 FROM rebuild_stage s WHERE s.position = e.{position}) "
                f"ORDER BY e.{position}"
            ),
            params,
        ).all()
        rows = [stage_row(r) for r in decode([tuple(r) for r in left])]
        if rows:
            self.conn.execute(insert(self.stage), rows)
        self._failures(after, upto)
        return int(staged) + len(rows)

    def _stage_sql(self) -> str:
        columns = ["position", "workload_id", "version", "kind", *_TEXT, *_BOOL.split()]
        head = f"INSERT INTO rebuild_stage ({', '.join(columns)}) "
        if self.pg:
            return head + self._stage_select_pg()
        return head + self._stage_select_sqlite()

    def _stage_select_sqlite(self) -> str:
        # Each json_extract parses the whole document again: the timestamps are extracted
        # once (materialized), and each kind's fields only for that kind.
        only = {n: "kind > 1" for n in _LIFECYCLE_ONLY} | {
            "pool_name": "kind = 1",
            "success": "kind = 1",
        }

        def field(name: str) -> str:
            value = f"json_extract(j, '$.{name}')"
            return f"CASE WHEN {only[name]} THEN {value} END" if name in only else value

        values = [field(n) for n in _TEXT]
        values[_TEXT.index("message")] = (
            "json_extract(j, CASE WHEN kind = 1 THEN '$.status_message' ELSE '$.message' END)"
        )
        values[_TEXT.index("recorded_at")] = "ts"
        values[_TEXT.index("reported_at")] = "rp"
        values[_TEXT.index("occurred_at")] = "coalesce(rp, ts)"
        bools = [field(n) for n in _BOOL.split()]
        bools[1] = f"coalesce({bools[1]}, 0)"
        return (
            "WITH raw AS MATERIALIZED ("
            f"SELECT e.rowid AS position, e.originator_id, e.originator_version, {_KIND} AS kind, "
            "CAST(e.state AS TEXT) AS j, "
            "json_extract(CAST(e.state AS TEXT), '$.timestamp._data_') AS ts_raw, "
            "json_extract(CAST(e.state AS TEXT), '$.reported_at._data_') AS rp_raw "
            f"FROM {self.events_table} e WHERE e.rowid > :lo AND e.rowid <= :hi AND {_TOPICS} "
            "AND instr(e.state, :nul) = 0), "
            "utc AS MATERIALIZED (SELECT position, originator_id, originator_version, kind, j, "
            f"rp_raw, {self._utc('ts_raw')} AS ts, {self._utc('rp_raw')} AS rp FROM raw) "
            "SELECT position, originator_id, originator_version, kind, "
            + ", ".join(values + bools)
            + " FROM utc WHERE ts IS NOT NULL AND (rp_raw IS NULL OR rp IS NOT NULL) "
            "ORDER BY position"
        )

    def _stage_select_pg(self) -> str:
        values = [f"r.{n}" for n in _TEXT]
        values[_TEXT.index("message")] = (
            "CASE WHEN k.kind = 1 THEN r.status_message ELSE r.message END"
        )
        values[_TEXT.index("recorded_at")] = "t.ts"
        values[_TEXT.index("reported_at")] = "t.rp"
        values[_TEXT.index("occurred_at")] = "coalesce(t.rp, t.ts)"
        values[_TEXT.index("secret_paths")] = "CAST(r.secret_paths AS text)"
        values[_TEXT.index("overrides")] = "CAST(r.overrides AS text)"
        bools = [f"r.{n}" for n in _BOOL.split()]
        bools[1] = "coalesce(r.message_truncated, false)"
        fields = [f"{n} text" for n in _TEXT if n not in _DERIVED] + [
            "status_message text",
            '"timestamp" json',
            "reported_at json",
        ]
        fields = [f.replace("secret_paths text", "secret_paths json") for f in fields]
        fields = [f.replace("overrides text", "overrides json") for f in fields]
        fields += [f"{n} boolean" for n in _BOOL.split()]
        return (
            "SELECT e.notification_id, replace(CAST(e.originator_id AS text), '-', ''), "
            "e.originator_version, k.kind, "
            + ", ".join(values + bools)
            + " FROM (SELECT notification_id, originator_id, originator_version, topic, state "
            f"FROM {self.events_table} e WHERE notification_id > :lo AND notification_id <= :hi "
            f"AND {_TOPICS} AND position(:nul IN state) = 0) e "
            f"CROSS JOIN LATERAL (SELECT {_KIND} AS kind) k "
            "CROSS JOIN LATERAL json_to_record(convert_from(e.state, 'UTF8')::json) "
            f"AS r({', '.join(fields)}) "
            "CROSS JOIN LATERAL (SELECT r.\"timestamp\" ->> '_data_' AS ts_raw, "
            "r.reported_at ->> '_data_' AS rp_raw) raw "
            f"CROSS JOIN LATERAL (SELECT {self._utc('raw.ts_raw')} AS ts, "
            f"{self._utc('raw.rp_raw')} AS rp) t "
            "WHERE t.ts IS NOT NULL AND (raw.rp_raw IS NULL OR t.rp IS NOT NULL) "
            "ORDER BY e.notification_id"
        )

    def _failures(self, after: int, upto: int) -> None:
        """Send the chunk's outcomes that need failure fields (helm-shaped or failed) to
        the classifier."""
        found = self.conn.execute(
            text(
                "SELECT position, success, message, message_exact FROM rebuild_stage "
                "WHERE position > :lo AND position <= :hi AND kind = 1 "
                "AND (NOT success OR message LIKE 'helm %')"
            ).execution_options(stream_results=True, yield_per=BATCH),
            {"lo": after, "hi": upto},
        )
        batch: list[Row] = []
        for position, success, message, exact in found:
            batch.append((position, bool(success), decode_message(message, exact)))
            if len(batch) >= BATCH:
                self.classifier.submit(batch)
                batch = []
        self.classifier.submit(batch)

    def _write(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.pg:
            bulk_insert(self.conn, table, rows)
        else:
            self.conn.execute(insert(table), rows)

    def analyze(self) -> None:
        """Statistics for PostgreSQL's planner (SQLite's plans here are primary-key joins)."""
        if self.pg:
            for table in self.staging:
                self.conn.execute(text(f"ANALYZE {table.name}"))

    def finish_failures(self) -> None:
        """Wait for the failure fields still being computed, and write them."""
        self.classifier.finish()

    def fold_all(self) -> None:
        """The per-event fold of every staged event into `rebuild_fold`."""
        p = self._packed
        s_att, s_ok, s_fail = (
            "s.kind = 1",
            "s.kind = 1 AND s.success",
            "s.kind = 1 AND NOT s.success",
        )
        window = "PARTITION BY s.workload_id ORDER BY s.position"
        inner = (
            "SELECT s.position, s.workload_id, s.kind, s.success, s.occurred_at, s.values_digest, "
            f"sum(CASE WHEN {s_att} THEN 1 ELSE 0 END) OVER w AS attempts, "
            f"sum(CASE WHEN {s_fail} THEN 1 ELSE 0 END) OVER w AS failures, "
            f"{self._max('s.occurred_at')} OVER w AS effective_at, "
            f"{p(s_att, 's.pool_name', nullable=True)} OVER w AS p_pool, "
            f"{p('s.kind IN (2, 4) AND s.pool_rt_id IS NOT NULL', 's.pool_rt_id')} OVER w AS p_rt, "
            f"{p('s.kind IN (2, 4) AND s.workload_type IS NOT NULL', 's.workload_type')} OVER w "
            "AS p_type, "
            f"{p(s_att, 's.occurred_at')} OVER w AS p_att, "
            f"{p(s_ok, 's.occurred_at')} OVER w AS p_ok, "
            f"{p(s_fail, 's.occurred_at')} OVER w AS p_fail, "
            f"{p('s.kind = 4', 's.occurred_at')} OVER w AS p_undeploy, "
            f"{p('s.kind = 2', 's.values_digest')} OVER w AS p_digest, "
            f"{p('s.kind = 2', 's.values_digest')} OVER wb AS p_prev_digest, "
            "max(CASE WHEN s.kind IN (1, 2, 4) THEN s.position END) OVER w AS open_after, "
            "max(CASE WHEN s.kind IN (1, 2, 4) THEN s.position END) OVER wb AS open_before, "
            "CASE WHEN lead(s.position) OVER w IS NULL THEN 1 ELSE 0 END AS is_last "
            "FROM rebuild_stage s WHERE s.kind > 0 "
            f"WINDOW w AS ({window} ROWS UNBOUNDED PRECEDING), "
            f"wb AS ({window} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
        )
        u = self._unpacked
        duration = self._seconds("x.occurred_at", "rb.occurred_at")
        changed = (
            "CASE WHEN x.kind = 2 AND x.p_prev_digest IS NOT NULL THEN "
            f"CASE WHEN {u('x.p_prev_digest')} <> x.values_digest THEN 1 ELSE 0 END END"
        )
        truth = "(CASE WHEN x.is_last = 1 THEN true ELSE false END)" if self.pg else "x.is_last"
        changed_b = f"CAST({changed} AS boolean)" if self.pg else changed
        columns = (
            "position, workload_id, kind, success, attempts, failures, is_last, values_changed, "
            "request_version, request_position, corr_request_position, corr_duration, "
            + ", ".join(_FOLD_TEXT.split())
        )
        sql = (
            f"INSERT INTO rebuild_fold ({columns}) SELECT x.position, x.workload_id, x.kind, "
            f"x.success, x.attempts, x.failures, {truth}, {changed_b}, "
            "ra.version, ra.position, rb.position, "
            f"CASE WHEN rb.position IS NOT NULL THEN {duration} END, "
            f"x.effective_at, {u('x.p_pool', nullable=True)}, {u('x.p_rt')}, {u('x.p_type')}, "
            f"{u('x.p_att')}, {u('x.p_ok')}, {u('x.p_fail')}, {u('x.p_undeploy')}, "
            f"{u('x.p_digest')}, ra.chart_name, ra.chart_version, ra.occurred_at, "
            "rb.chart_name, rb.chart_version "
            f"FROM ({inner}) x "
            "LEFT JOIN rebuild_stage ra ON ra.position = x.open_after AND ra.kind = 2 "
            "LEFT JOIN rebuild_stage rb ON x.kind = 1 AND rb.position = x.open_before "
            "AND rb.kind = 2 ORDER BY x.position"
        )
        self.conn.execute(text(sql))

    def fold_after(self) -> None:
        """What the fold of the closed requests gives (the counters since the last success,
        the deployed chart and the last duration) into `rebuild_after`."""
        p = self._packed
        window = "PARTITION BY f.workload_id ORDER BY f.position ROWS UNBOUNDED PRECEDING"
        ok = "f.kind = 1 AND f.success"
        sets = f"{ok} OR f.kind = 4"  # a success sets the deployed chart, an undeploy clears it
        inner = (
            "SELECT f.position, f.failures, "
            f"max(CASE WHEN {ok} THEN f.failures END) OVER w AS failures_at_success, "
            f"{p(sets, f'CASE WHEN {ok} THEN f.corr_chart_name END', nullable=True, at='f')} "
            "OVER w AS p_chart, "
            f"{p(sets, f'CASE WHEN {ok} THEN f.corr_chart_version END', nullable=True, at='f')} "
            "OVER w AS p_version, "
            "max(CASE WHEN f.kind = 1 AND f.corr_request_position IS NOT NULL THEN f.position END) "
            "OVER w AS duration_at "
            f"FROM rebuild_fold f WINDOW w AS ({window})"
        )
        u = self._unpacked
        self.conn.execute(
            text(
                "INSERT INTO rebuild_after (position, consecutive_failures, deployed_chart_name, "
                "deployed_chart_version, last_duration) SELECT y.position, "
                "y.failures - coalesce(y.failures_at_success, 0), "
                f"{u('y.p_chart', nullable=True)}, {u('y.p_version', nullable=True)}, "
                f"d.corr_duration FROM ({inner}) y "
                "LEFT JOIN rebuild_fold d ON d.position = y.duration_at ORDER BY y.position"
            )
        )

    def write_history(self, after: int, upto: int) -> None:
        """One row per folded event: the workload's state right after it."""
        st = self._stamp
        state = (
            "CASE s.kind WHEN 1 THEN CASE WHEN s.success THEN 2 ELSE 3 END WHEN 4 THEN 0 ELSE 1 END"
        )
        values = {
            "position": "f.position",
            "tenant_id": "s.tenant_id",
            "workload_rt_id": "s.workload_rt_id",
            "effective_at": st("f.effective_at"),
            "workload_name": "s.workload_name",
            "pool_name": "f.pool_name",
            "state": state,
            "status_message": "CASE WHEN s.kind IN (1, 3) THEN s.message END",
            "status_message_exact": "CASE WHEN s.kind IN (1, 3) THEN s.message_exact END",
            "attempts": "f.attempts",
            "failures": "f.failures",
            "consecutive_failures": "a.consecutive_failures",
            "last_attempt_at": st("f.last_attempt_at"),
            "last_success_at": st("f.last_success_at"),
            "last_failure_at": st("f.last_failure_at"),
            "pool_rt_id": "f.pool_rt_id",
            "workload_type": "f.workload_type",
            "deployed_chart_name": "a.deployed_chart_name",
            "deployed_chart_version": "a.deployed_chart_version",
            "pending_chart_name": "f.pending_chart_name",
            "pending_chart_version": "f.pending_chart_version",
            "requested_at": st("f.requested_at"),
            "last_duration": "a.last_duration",
            "undeployed_at": st("f.undeployed_at"),
        }
        self._insert_select(
            self.tables.history,
            values,
            "FROM rebuild_fold f JOIN rebuild_after a ON a.position = f.position "
            "JOIN rebuild_stage s ON s.position = f.position "
            "WHERE f.position > :lo AND f.position <= :hi ORDER BY f.position",
            {"lo": after, "hi": upto},
        )

    def write_attempts(self, after: int, upto: int) -> None:
        st = self._stamp
        values = {
            "position": "f.position",
            "tenant_id": "s.tenant_id",
            "workload_rt_id": "s.workload_rt_id",
            "attempt": "f.attempts",
            "recorded_at": st("s.recorded_at"),
            "reported_at": st("s.reported_at"),
            "occurred_at": st("s.occurred_at"),
            "success": "s.success",
            "state": "CASE WHEN s.success THEN 2 ELSE 3 END",
            "status_message": "s.message",
            "status_message_exact": "s.message_exact",
            "workload_name": "s.workload_name",
            "pool_name": "s.pool_name",
            "message_id": "s.message_id",
            "message_truncated": "s.message_truncated",
            "chart_name": "f.corr_chart_name",
            "chart_version": "f.corr_chart_version",
            "request_position": "f.corr_request_position",
            "duration": "f.corr_duration",
            "helm_operation": "x.helm_operation",
            "exit_code": "x.exit_code",
            "category": "x.category",
            "fingerprint": "x.fingerprint",
        }
        self._insert_select(
            self.tables.attempts,
            values,
            "FROM rebuild_fold f JOIN rebuild_stage s ON s.position = f.position "
            "LEFT JOIN rebuild_failures x ON x.position = f.position WHERE f.kind = 1 "
            "AND f.position > :lo AND f.position <= :hi ORDER BY f.position",
            {"lo": after, "hi": upto},
        )

    def write_lifecycle(self, after: int, upto: int) -> None:
        st = self._stamp
        copied = [
            "workload_name",
            "message_id",
            "pool_rt_id",
            "workload_type",
            "chart_name",
            "chart_version",
            "repository_url",
            "is_reconciliation",
            "ingress_enabled",
            "hostname",
            "receives_cluster_secrets",
            "secret_paths",
            "overrides",
            "values_digest",
            "message",
            "message_exact",
            "message_truncated",
        ]
        values = {
            "position": "f.position",
            "tenant_id": "s.tenant_id",
            "workload_rt_id": "s.workload_rt_id",
            "kind": "CASE s.kind WHEN 2 THEN 'request' WHEN 3 THEN 'progress' ELSE 'undeploy' END",
            "recorded_at": st("s.recorded_at"),
            "reported_at": st("s.reported_at"),
            "occurred_at": st("s.occurred_at"),
            "values_changed": "f.values_changed",
            **{name: f"s.{name}" for name in copied},
        }
        self._insert_select(
            self.tables.lifecycle,
            values,
            "FROM rebuild_fold f JOIN rebuild_stage s ON s.position = f.position "
            "WHERE f.kind > 1 AND f.position > :lo AND f.position <= :hi ORDER BY f.position",
            {"lo": after, "hi": upto},
        )

    def write_states(self) -> None:
        """Each workload's last history row; registered workloads with no event yet."""
        history = self.tables.history
        values = {c.name: f"h.{c.name}" for c in self.tables.states.columns if c.name in history.c}
        values.update(
            workload_id="f.workload_id",
            last_position="f.position",
            request_version="f.request_version",
            request_position="f.request_position",
            values_digest="f.values_digest",
        )
        true = "true" if self.pg else "1"
        self._insert_select(
            self.tables.states,
            values,
            f"FROM rebuild_fold f JOIN {history.name} h ON h.position = f.position "
            f"WHERE f.is_last = {true}",
        )
        registered = {c.name: "NULL" for c in self.tables.states.columns}
        registered.update(
            tenant_id="r.tenant_id",
            workload_rt_id="r.workload_rt_id",
            workload_id="r.workload_id",
            state="0",
            attempts="0",
            failures="0",
            consecutive_failures="0",
            last_position="r.position",
        )
        self._insert_select(
            self.tables.states,
            registered,
            "FROM rebuild_stage r WHERE r.kind = 0 AND r.workload_id NOT IN "
            f"(SELECT workload_id FROM rebuild_fold WHERE is_last = {true})",
        )

    def write_pools(self) -> None:
        history, pools = self.tables.history, self.tables.pools
        self.conn.execute(
            text(
                f"INSERT INTO {pools.name} (pool, tenant_id, workload_rt_id) "
                f"SELECT pool_name, tenant_id, workload_rt_id FROM {history.name} "
                "WHERE pool_name IS NOT NULL UNION "
                f"SELECT pool_rt_id, tenant_id, workload_rt_id FROM {history.name} "
                "WHERE pool_rt_id IS NOT NULL"
            )
        )

    def _insert_select(
        self,
        table: Table,
        values: dict[str, str],
        source: str,
        params: dict[str, Any] | None = None,
    ) -> None:
        names = [c.name for c in table.columns]
        # PostgreSQL types a bare NULL in a SELECT list as text: cast it to the column's type.
        typed = [
            f"CAST(NULL AS {table.c[n].type.compile(dialect=self.conn.dialect)})"
            if self.pg and values[n] == "NULL"
            else values[n]
            for n in names
        ]
        self.conn.execute(
            text(
                f'INSERT INTO "{table.name}" ({", ".join(names)}) SELECT {", ".join(typed)} '
                + source
            ),
            params or {},
        )

    def drop(self) -> None:
        self.classifier.close()
        for table in self.staging:
            self.conn.execute(text(f"DROP TABLE IF EXISTS {table.name}"))


_DERIVED = {"recorded_at", "reported_at", "occurred_at"}


def stage_row(record: EventRecord) -> dict[str, Any]:
    """The fallback path: one event's staging row, by the Python projection's row builders."""
    data = record.data
    kind = KINDS[record.topic]
    row: dict[str, Any] = dict.fromkeys(["message_exact", *_TEXT, *_BOOL.split()])
    row.update(
        position=record.position,
        workload_id=record.workload_id,
        version=record.version,
        kind=kind,
        tenant_id=data["tenant_id"],
        workload_rt_id=data["workload_rt_id"],
        recorded_at=sqlite_time(data["timestamp"]),
    )
    if kind == 0:
        return row
    built = attempt_row(record) if kind == 1 else lifecycle_row(record, LIFECYCLE[record.topic])
    for name in row.keys() & built.keys():
        if name not in ("position", "kind"):  # the projection names its kinds in words
            row[name] = built[name]
    if kind == 1:
        row["message"] = built["status_message"]
        row["message_exact"] = built["status_message_exact"]
    for name in ("recorded_at", "reported_at", "occurred_at"):
        value = built[name]
        row[name] = None if value is None else sqlite_time(value)
    return row
