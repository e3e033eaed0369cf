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

from typing import Any

from sqlalchemy import Connection, Table, text

from deployledger.domain.workload.kinds import (
    LIFECYCLE_KINDS,
    MESSAGE_KINDS,
    PLACEMENT_KINDS,
    REQUEST_EDGES,
)
from deployledger.domain.workload.kinds import EventKind as K
from deployledger.store.readmodel.runner import ReadModelTables
from deployledger.store.rebuild.sql import (
    FOLD_TEXT,
    Sql,
    kind_is,
    kind_is_not,
    lifecycle_word,
    outcome_state,
    registered_value,
    state_case,
)


class SetFold(Sql):
    """Stages 2 and 3: the fold of every staged event, and the read-model rows it gives."""

    def __init__(self, conn: Connection, tables: ReadModelTables) -> None:
        super().__init__(conn)
        self.tables = tables

    def fold_all(self) -> None:
        """The per-event fold of every staged event into `rebuild_fold`."""
        p = self.packed
        s_att = kind_is("s.kind", K.OUTCOME)
        s_ok, s_fail = f"{s_att} AND s.success", f"{s_att} AND NOT s.success"
        placed = kind_is("s.kind", *PLACEMENT_KINDS)
        s_request, s_undeploy = kind_is("s.kind", K.REQUEST), kind_is("s.kind", K.UNDEPLOY)
        edge = kind_is("s.kind", *REQUEST_EDGES)
        window = "PARTITION BY s.workload_id ORDER BY s.position"
        inner = (
            "SELECT s.position, s.padded, s.workload_id, s.kind, s.success, s.occurred_at, "
            "s.values_digest, "
            f"sum(CASE WHEN {s_att} THEN 1 ELSE 0 END) OVER w AS attempts, "
            f"sum(CASE WHEN {s_fail} THEN 1 ELSE 0 END) OVER w AS failures, "
            f"{self.max('s.occurred_at')} OVER w AS effective_at, "
            f"{p(s_att, 's.pool_name', nullable=True)} OVER w AS p_pool, "
            f"{p(f'{placed} AND s.pool_rt_id IS NOT NULL', 's.pool_rt_id')} OVER w AS p_rt, "
            f"{p(f'{placed} AND s.workload_type IS NOT NULL', 's.workload_type')} OVER w "
            "AS p_type, "
            f"{p(s_att, 's.occurred_at')} OVER w AS p_att, "
            f"{p(s_ok, 's.occurred_at')} OVER w AS p_ok, "
            f"{p(s_fail, 's.occurred_at')} OVER w AS p_fail, "
            f"{p(s_undeploy, 's.occurred_at')} OVER w AS p_undeploy, "
            f"{p(s_request, 's.values_digest')} OVER w AS p_digest, "
            f"{p(s_request, 's.values_digest')} OVER wb AS p_prev_digest, "
            f"max(CASE WHEN {edge} THEN s.position END) OVER w AS open_after, "
            f"max(CASE WHEN {edge} THEN s.position END) OVER wb AS open_before, "
            "CASE WHEN lead(s.position) OVER w IS NULL THEN 1 ELSE 0 END AS is_last "
            f"FROM rebuild_stage s WHERE {kind_is_not('s.kind', K.REGISTERED)} "
            f"WINDOW w AS ({window} ROWS UNBOUNDED PRECEDING), "
            f"wb AS ({window} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
        )
        u = self.unpacked
        duration = self.seconds("x.occurred_at", "rb.occurred_at")
        changed = (
            f"CASE WHEN {kind_is('x.kind', K.REQUEST)} AND x.p_prev_digest IS NOT NULL THEN "
            f"CASE WHEN {u('x.p_prev_digest')} <> x.values_digest THEN 1 ELSE 0 END END"
        )
        truth = "(CASE WHEN x.is_last = 1 THEN true ELSE false END)" if self.pg else "x.is_last"
        changed_b = f"CAST({changed} AS boolean)" if self.pg else changed
        columns = (
            "position, padded, workload_id, kind, success, attempts, failures, is_last, "
            "values_changed, "
            "request_version, request_position, corr_request_position, corr_duration, "
            + ", ".join(FOLD_TEXT.split())
        )
        sql = (
            f"INSERT INTO rebuild_fold ({columns}) SELECT x.position, x.padded, x.workload_id, "
            "x.kind, "
            f"x.success, x.attempts, x.failures, {truth}, {changed_b}, "
            "ra.version, ra.position, rb.position, "
            f"CASE WHEN rb.position IS NOT NULL THEN {duration} END, "
            f"x.effective_at, {u('x.p_pool', nullable=True)}, {u('x.p_rt')}, {u('x.p_type')}, "
            f"{u('x.p_att')}, {u('x.p_ok')}, {u('x.p_fail')}, {u('x.p_undeploy')}, "
            f"{u('x.p_digest')}, ra.chart_name, ra.chart_version, ra.occurred_at, "
            "rb.chart_name, rb.chart_version "
            f"FROM ({inner}) x "
            "LEFT JOIN rebuild_stage ra ON ra.position = x.open_after "
            f"AND {kind_is('ra.kind', K.REQUEST)} "
            f"LEFT JOIN rebuild_stage rb ON {kind_is('x.kind', K.OUTCOME)} "
            f"AND rb.position = x.open_before AND {kind_is('rb.kind', K.REQUEST)} "
            "ORDER BY x.position"
        )
        self.conn.execute(text(sql))

    def fold_after(self) -> None:
        """What the fold of the closed requests gives (the counters since the last success,
        the deployed chart and the last duration) into `rebuild_after`."""
        p = self.packed
        window = "PARTITION BY f.workload_id ORDER BY f.position ROWS UNBOUNDED PRECEDING"
        outcome = kind_is("f.kind", K.OUTCOME)
        ok = f"{outcome} AND f.success"
        # A success that closes a request sets the deployed chart, an undeploy clears it;
        # a success that closes none leaves it.
        sets = f"({ok} AND f.corr_request_position IS NOT NULL) OR {kind_is('f.kind', K.UNDEPLOY)}"
        inner = (
            "SELECT f.position, f.failures, "
            f"max(CASE WHEN {ok} THEN f.failures END) OVER w AS failures_at_success, "
            f"{p(sets, f'CASE WHEN {ok} THEN f.corr_chart_name END', nullable=True, at='f')} "
            "OVER w AS p_chart, "
            f"{p(sets, f'CASE WHEN {ok} THEN f.corr_chart_version END', nullable=True, at='f')} "
            "OVER w AS p_version, "
            f"max(CASE WHEN {outcome} AND f.corr_request_position IS NOT NULL "
            "THEN f.position END) OVER w AS duration_at "
            f"FROM rebuild_fold f WINDOW w AS ({window})"
        )
        u = self.unpacked
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
        st = self.stamp
        state = state_case("s.kind", "s.success")
        messages = kind_is("s.kind", *MESSAGE_KINDS)
        values = {
            "position": "f.position",
            "tenant_id": "s.tenant_id",
            "workload_rt_id": "s.workload_rt_id",
            "effective_at": st("f.effective_at"),
            "workload_name": "s.workload_name",
            "pool_name": "f.pool_name",
            "state": state,
            "status_message": f"CASE WHEN {messages} THEN s.message END",
            "status_message_exact": f"CASE WHEN {messages} THEN s.message_exact END",
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
        st = self.stamp
        values = {
            "position": "f.position",
            "tenant_id": "s.tenant_id",
            "workload_rt_id": "s.workload_rt_id",
            "attempt": "f.attempts",
            "recorded_at": st("s.recorded_at"),
            "reported_at": st("s.reported_at"),
            "occurred_at": st("s.occurred_at"),
            "success": "s.success",
            "state": outcome_state("s.success"),
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
            "LEFT JOIN rebuild_failures x ON x.position = f.position "
            f"WHERE {kind_is('f.kind', K.OUTCOME)} "
            "AND f.position > :lo AND f.position <= :hi ORDER BY f.position",
            {"lo": after, "hi": upto},
        )

    def write_lifecycle(self, after: int, upto: int) -> None:
        st = self.stamp
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
            "kind": lifecycle_word("s.kind"),
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
            f"WHERE {kind_is('f.kind', *LIFECYCLE_KINDS)} "
            "AND f.position > :lo AND f.position <= :hi ORDER BY f.position",
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
            **{
                name: registered_value(name)
                for name in ("state", "attempts", "failures", "consecutive_failures")
            },
            last_position="r.position",
        )
        self._insert_select(
            self.tables.states,
            registered,
            f"FROM rebuild_stage r WHERE {kind_is('r.kind', K.REGISTERED)} "
            "AND r.workload_id NOT IN "
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
