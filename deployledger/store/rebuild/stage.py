"""Stage 1 of the set-based rebuild: the events decoded into typed columns, chunk by chunk.

One `INSERT … SELECT` per position range decodes the JSON in the database; the events it
leaves out (a NUL, a zone other than UTC) are staged by the Python projection's row builders,
and the outcomes that need failure fields go to the classifier (workers beside the SQL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, text
from sqlalchemy.schema import CreateTable

from deployledger.domain.workload.kinds import LIFECYCLE_KINDS
from deployledger.domain.workload.kinds import EventKind as K
from deployledger.projections.project import (
    LIFECYCLE,
    EventRecord,
    attempt_row,
    decode_message,
    lifecycle_row,
)
from deployledger.store.events.bulk import bulk_insert, sqlite_time
from deployledger.store.rebuild.classify import BATCH, Classifier, Row
from deployledger.store.rebuild.sql import (
    BOOL_FIELDS,
    KIND_CASE,
    KINDS,
    LIFECYCLE_ONLY,
    PARAMS,
    TEXT_FIELDS,
    TOPICS_IN,
    Sql,
    kind_is,
    staging,
)

FALLBACK_BATCH = 200  # events decoded in Python at once


class Stage(Sql):
    """The temporary tables on one connection of the events' own database, and the staging."""

    def __init__(self, conn: Connection, events_table: str) -> None:
        super().__init__(conn)
        self.events_table = events_table
        self.staging = staging()
        self.stage, _, _, self.failures = self.staging
        self.classifier = Classifier(lambda rows: self._write(self.failures, rows))

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
        position = self.position
        left = (
            self.conn.execute(
                text(
                    f"SELECT e.{position} FROM {self.events_table} e WHERE e.{position} > :lo "
                    f"AND e.{position} <= :hi AND {TOPICS_IN} AND NOT EXISTS "
                    f"(SELECT 1 FROM rebuild_stage s WHERE s.position = e.{position}) "
                    f"ORDER BY e.{position}"
                ),
                params,
            )
            .scalars()
            .all()
        )
        for start in range(0, len(left), FALLBACK_BATCH):  # bounded: messages may be large
            found = self.conn.execute(
                text(
                    f"SELECT {position}, originator_id, originator_version, topic, state "
                    f"FROM {self.events_table} WHERE {position} IN :positions "
                    f"ORDER BY {position}"
                ).bindparams(bindparam("positions", expanding=True)),
                {"positions": list(left[start : start + FALLBACK_BATCH])},
            ).all()
            rows = [stage_row(r) for r in decode([tuple(r) for r in found]) if r.topic in KINDS]
            self.conn.execute(insert(self.stage), rows)
        self._failures(after, upto)
        return int(staged) + len(left)

    def _stage_sql(self) -> str:
        columns = ["position", "padded", "workload_id", "version", "kind"]
        columns += [*TEXT_FIELDS, *BOOL_FIELDS.split()]
        head = f"INSERT INTO rebuild_stage ({', '.join(columns)}) "
        if self.pg:
            return head + self._stage_select_pg()
        return head + self._stage_select_sqlite()

    def _stage_select_sqlite(self) -> str:
        # Each json_extract parses the whole document again: the timestamps are extracted
        # once (materialized), and each kind's fields only for that kind.
        outcome = kind_is("kind", K.OUTCOME)
        only = {n: kind_is("kind", *LIFECYCLE_KINDS) for n in LIFECYCLE_ONLY} | {
            "pool_name": outcome,
            "success": outcome,
        }

        def field(name: str) -> str:
            value = f"json_extract(j, '$.{name}')"
            return f"CASE WHEN {only[name]} THEN {value} END" if name in only else value

        values = [field(n) for n in TEXT_FIELDS]
        values[TEXT_FIELDS.index("message")] = (
            f"json_extract(j, CASE WHEN {outcome} THEN '$.status_message' ELSE '$.message' END)"
        )
        values[TEXT_FIELDS.index("recorded_at")] = "ts"
        values[TEXT_FIELDS.index("reported_at")] = "rp"
        values[TEXT_FIELDS.index("occurred_at")] = "coalesce(rp, ts)"
        bools = [field(n) for n in BOOL_FIELDS.split()]
        bools[1] = f"coalesce({bools[1]}, 0)"
        return (
            "WITH raw AS MATERIALIZED ("
            "SELECT e.rowid AS position, e.originator_id, e.originator_version, "
            f"{KIND_CASE} AS kind, "
            "CAST(e.state AS TEXT) AS j, "
            "json_extract(CAST(e.state AS TEXT), '$.timestamp._data_') AS ts_raw, "
            "json_extract(CAST(e.state AS TEXT), '$.reported_at._data_') AS rp_raw "
            f"FROM {self.events_table} e WHERE e.rowid > :lo AND e.rowid <= :hi AND {TOPICS_IN} "
            "AND instr(e.state, :nul) = 0), "
            "utc AS MATERIALIZED (SELECT position, originator_id, originator_version, kind, j, "
            f"rp_raw, {self.utc('ts_raw')} AS ts, {self.utc('rp_raw')} AS rp FROM raw) "
            f"SELECT position, {self.pad('position')}, originator_id, originator_version, kind, "
            + ", ".join(values + bools)
            + " FROM utc WHERE ts IS NOT NULL AND (rp_raw IS NULL OR rp IS NOT NULL) "
            "ORDER BY position"
        )

    def _stage_select_pg(self) -> str:
        values = [f"r.{n}" for n in TEXT_FIELDS]
        values[TEXT_FIELDS.index("message")] = (
            f"CASE WHEN {kind_is('k.kind', K.OUTCOME)} THEN r.status_message ELSE r.message END"
        )
        values[TEXT_FIELDS.index("recorded_at")] = "t.ts"
        values[TEXT_FIELDS.index("reported_at")] = "t.rp"
        values[TEXT_FIELDS.index("occurred_at")] = "coalesce(t.rp, t.ts)"
        values[TEXT_FIELDS.index("secret_paths")] = "CAST(r.secret_paths AS text)"
        values[TEXT_FIELDS.index("overrides")] = "CAST(r.overrides AS text)"
        bools = [f"r.{n}" for n in BOOL_FIELDS.split()]
        bools[1] = "coalesce(r.message_truncated, false)"
        fields = [f"{n} text" for n in TEXT_FIELDS if n not in _DERIVED] + [
            "status_message text",
            '"timestamp" json',
            "reported_at json",
        ]
        fields = [f.replace("secret_paths text", "secret_paths json") for f in fields]
        fields = [f.replace("overrides text", "overrides json") for f in fields]
        fields += [f"{n} boolean" for n in BOOL_FIELDS.split()]
        return (
            f"SELECT e.notification_id, {self.pad('e.notification_id')}, "
            "replace(CAST(e.originator_id AS text), '-', ''), e.originator_version, k.kind, "
            + ", ".join(values + bools)
            + " FROM (SELECT notification_id, originator_id, originator_version, topic, state "
            f"FROM {self.events_table} e WHERE notification_id > :lo AND notification_id <= :hi "
            f"AND {TOPICS_IN} AND position(:nul IN state) = 0) e "
            f"CROSS JOIN LATERAL (SELECT {KIND_CASE} AS kind) k "
            "CROSS JOIN LATERAL json_to_record(convert_from(e.state, 'UTF8')::json) "
            f"AS r({', '.join(fields)}) "
            "CROSS JOIN LATERAL (SELECT r.\"timestamp\" ->> '_data_' AS ts_raw, "
            "r.reported_at ->> '_data_' AS rp_raw) raw "
            f"CROSS JOIN LATERAL (SELECT {self.utc('raw.ts_raw')} AS ts, "
            f"{self.utc('raw.rp_raw')} AS rp) t "
            "WHERE t.ts IS NOT NULL AND (raw.rp_raw IS NULL OR t.rp IS NOT NULL) "
            "ORDER BY e.notification_id"
        )

    def _failures(self, after: int, upto: int) -> None:
        """Send the chunk's outcomes that need failure fields (helm-shaped or failed) to
        the classifier."""
        found = self.conn.execute(
            text(
                "SELECT position, success, message, message_exact FROM rebuild_stage "
                f"WHERE position > :lo AND position <= :hi AND {kind_is('kind', K.OUTCOME)} "
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

    def drop(self) -> None:
        self.classifier.close()
        for table in self.staging:
            self.conn.execute(text(f"DROP TABLE IF EXISTS {table.name}"))


_DERIVED = {"recorded_at", "reported_at", "occurred_at"}


def stage_row(record: EventRecord) -> dict[str, Any]:
    """The fallback path: one event's staging row, by the Python projection's row builders."""
    data = record.data
    kind = KINDS[record.topic]
    row: dict[str, Any] = dict.fromkeys(["message_exact", *TEXT_FIELDS, *BOOL_FIELDS.split()])
    row.update(
        position=record.position,
        padded=f"{record.position:019d}",
        workload_id=record.workload_id,
        version=record.version,
        kind=int(kind),
        tenant_id=data["tenant_id"],
        workload_rt_id=data["workload_rt_id"],
        recorded_at=sqlite_time(data["timestamp"]),
    )
    if kind is K.REGISTERED:
        return row
    if kind is K.OUTCOME:
        built = attempt_row(record)
    else:
        built = lifecycle_row(record, LIFECYCLE[record.topic])
    for name in row.keys() & built.keys():
        if name not in ("position", "kind"):  # the projection names its kinds in words
            row[name] = built[name]
    if kind is K.OUTCOME:
        row["message"] = built["status_message"]
        row["message_exact"] = built["status_message_exact"]
    for name in ("recorded_at", "reported_at", "occurred_at"):
        value = built[name]
        row[name] = None if value is None else sqlite_time(value)
    return row
