"""The rebuild's run-time check that the rebuilt state rows are the fold of the events.

The set-based rebuild folds in SQL (`setfold`), a second implementation of the domain's
fold. Before the switch, every workload's row of the rebuilt `workload_state` table is
compared, column by column, with the row the projection's own per-event fold gives
(`fold_row` and `fold_lifecycle_row` over `deployledger.domain.workload.fold.fold_event`, and
the effective time: the calls the live runner makes). A history digest per workload (the sums of the
folded numbers over its history rows) covers the states between.

The Python fold reads the same events as the SQL did: the staged rows, decoded once (the
set-based path), or the stored events (the replay path). It skips what only the row
builders need (failure categories, fingerprints), so it costs a fraction of a replay. On the
set-based path it runs in a thread (`Folder`) while the database folds and writes: the SQL
runs in C with the GIL released, so the check costs little more than reading the staged rows
(in batches, through the raw DB-API cursor, between the SQL statements) and comparing.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, func, select

from deployledger.domain.workload.kinds import EventKind
from deployledger.errors import RebuildFailed
from deployledger.projections.project import (
    ATTEMPTED,
    LIFECYCLE,
    REGISTERED,
    EventRecord,
    encode_message,
    fold_lifecycle_row,
    fold_row,
    new_state,
)

# The folded numbers whose sums over a workload's history rows make its history digest.
DIGEST = ("state", "attempts", "failures", "consecutive_failures", "last_duration")
BATCH = 5000  # staged rows read at once
PENDING_ROWS = 25_000  # staged rows read but not yet folded, at most
PENDING_BYTES = 16 * 1024 * 1024  # and their messages (about)
# Off only in the benchmark that measures what the check costs (bench/readmodel.py,
# `--only rebuild-foldcheck`); never a setting: a rebuild always checks.
_ENABLED = True

_OUTCOME, _REGISTERED = int(EventKind.OUTCOME), int(EventKind.REGISTERED)
_WORDS = {int(k): k.word for k in EventKind}
# One event, as the fold needs it: position, workload id, version, kind, tenant, runtime id,
# success, workload name, pool name, pool runtime id, workload type, chart name and version,
# values digest, message (searchable text), message (exact bytes or None), occurred at.
Event = tuple[Any, ...]
Difference = tuple[str, str, str, Any, Any]  # tenant, runtime id, column, rebuilt, folded
_STAGED = (
    "SELECT position, workload_id, version, kind, tenant_id, workload_rt_id, success, "
    "workload_name, pool_name, pool_rt_id, workload_type, chart_name, chart_version, "
    "values_digest, message, message_exact, occurred_at FROM rebuild_stage "
    "WHERE position > {mark} ORDER BY position LIMIT {limit}"
)


@dataclass(slots=True)
class Expected:
    """What the fold of the events gives: each workload's state row (by workload id hex),
    and its history digest (by workload id hex)."""

    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    digests: dict[str, list[float]] = field(default_factory=dict)


def fold_events(events: Iterable[Event], expected: Expected | None = None) -> Expected:
    """Fold `events` (in position order) by the projection's per-event fold, on top of
    `expected` (the fold of the events before them) if given."""
    expected = Expected() if expected is None else expected
    states, digests = expected.states, expected.digests
    for event in events:
        position, key, version, kind, tenant, rt_id = event[:6]
        state = states.get(key)
        if state is None:
            record = EventRecord(
                position, key, version, REGISTERED, {"tenant_id": tenant, "workload_rt_id": rt_id}
            )
            state = states[key] = new_state(record)
            digests[key] = [0.0] * len(DIGEST)
        if kind == _REGISTERED:
            continue
        (_, _, _, _, _, _, success, name, pool, pool_rt, wtype, chart, version_, values, text_,
         exact, at) = event  # fmt: skip
        if kind == _OUTCOME:
            row = {
                "position": position,
                "success": bool(success),
                "workload_name": name,
                "pool_name": pool,
                "status_message": text_,
                "status_message_exact": exact,
                "occurred_at": at,
            }
            fold_row(state, row)
        else:
            row = {
                "position": position,
                "kind": _WORDS[kind],
                "workload_name": name,
                "pool_rt_id": pool_rt,
                "workload_type": wtype,
                "chart_name": chart,
                "chart_version": version_,
                "values_digest": values,
                "message": text_,
                "message_exact": exact,
                "occurred_at": at,
            }
            fold_lifecycle_row(state, row, version)
        # `advance` (the effective time: a running maximum), for times already in UTC.
        effective = state["effective_at"]
        if effective is None or at > effective:
            state["effective_at"] = at
        digest = digests[key]  # the sums of DIGEST, unrolled
        digest[0] += state["state"]
        digest[1] += state["attempts"]
        digest[2] += state["failures"]
        digest[3] += state["consecutive_failures"]
        digest[4] += state["last_duration"] or 0.0
    return expected


class Folder:
    """The fold of the set-based rebuild's staged events (the temporary `rebuild_stage`
    table, complete), in a thread beside the SQL.

    The staged rows live in the rebuild's one connection, so that connection's thread reads
    them: `feed(conn)` between its SQL statements reads batches while fewer than
    `PENDING_ROWS` rows (and `PENDING_BYTES` of messages) wait to be folded, and `finish(conn)`
    reads the rest and returns the fold. Start it once the staging is done: the failure
    classifier forks its workers only while the process has a single thread.
    """

    def __init__(self, conn: Connection) -> None:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        self._sql = _STAGED.format(mark=mark, limit=BATCH)
        self._after = 0  # the last position read
        self._read_all = False
        self._expected = Expected()
        self._error: BaseException | None = None
        self._batches: deque[tuple[list[Event], int]] = deque()
        self._rows = self._bytes = 0  # read, not yet folded
        self._stopped = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="deployledger-foldcheck")
        self._thread.start()

    def feed(self, conn: Connection) -> None:
        """Read staged rows while there is room for them; never waits for the fold."""
        while not self._read_all and self._room():
            self._read(conn)

    def finish(self, conn: Connection) -> Expected:
        """Read every staged row left, wait for the fold, and return it."""
        while not self._read_all:
            with self._changed:
                self._changed.wait_for(lambda: self._room() or self._error is not None)
            self._raise()
            self._read(conn)
        self._thread.join()
        self._raise()
        return self._expected

    def close(self) -> None:
        """Stop the fold (an interrupted rebuild); what it folded is dropped."""
        with self._changed:
            self._stopped = True
            self._batches.clear()
            self._changed.notify_all()
        self._thread.join()

    def _room(self) -> bool:
        with self._changed:
            return self._rows < PENDING_ROWS and self._bytes < PENDING_BYTES

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _read(self, conn: Connection) -> None:
        cursor = conn.connection.cursor()  # the raw DB-API cursor: no row objects
        try:
            cursor.execute(self._sql, (self._after,))
            rows: list[Event] = list(cursor.fetchall())
        finally:
            cursor.close()
        size = sum(len(r[14] or "") + len(r[15] or b"") for r in rows)
        with self._changed:
            if rows:
                self._after = rows[-1][0]
                self._batches.append((rows, size))
                self._rows += len(rows)
                self._bytes += size
            self._read_all = len(rows) < BATCH
            self._changed.notify_all()

    def _run(self) -> None:
        parse = datetime.fromisoformat
        try:
            while True:
                with self._changed:
                    self._changed.wait_for(lambda: self._batches or self._read_all or self._stopped)
                    if self._stopped or not self._batches:
                        return
                    rows, size = self._batches[0]
                fold_events(
                    (
                        (*row[:16], None if row[16] is None else parse(row[16]).replace(tzinfo=UTC))
                        for row in rows
                    ),
                    self._expected,
                )
                with self._changed:
                    if self._batches:
                        self._batches.popleft()
                    self._rows -= len(rows)
                    self._bytes -= size
                    self._changed.notify_all()
        except BaseException as e:  # raised again in the rebuild's thread
            with self._changed:
                self._error = e
                self._changed.notify_all()


def stored_events(records: Iterable[EventRecord]) -> Iterator[Event]:
    """Stored events decoded for projections, as the fold check takes them."""
    kinds = {t: int(EventKind.of_word(w)) for t, w in LIFECYCLE.items()}
    kinds.update({REGISTERED: _REGISTERED, ATTEMPTED: _OUTCOME})
    for r in records:
        kind = kinds.get(r.topic)
        if kind is None:
            continue
        data = r.data
        message, exact = encode_message(
            data.get("status_message" if kind == _OUTCOME else "message")
        )
        at = data.get("reported_at") or data.get("timestamp")
        yield (
            r.position,
            r.workload_id,
            r.version,
            kind,
            data["tenant_id"],
            data["workload_rt_id"],
            data.get("success"),
            data.get("workload_name"),
            data.get("pool_name"),
            data.get("pool_rt_id"),
            data.get("workload_type"),
            data.get("chart_name"),
            data.get("chart_version"),
            data.get("values_digest"),
            message,
            exact,
            at,
        )


@dataclass(slots=True)
class Rebuilt:
    """What the rebuild wrote, as the check compares it: every state row, and each
    workload's history digest (by tenant and runtime id)."""

    states: list[dict[str, Any]]
    digests: dict[tuple[str, str], list[Any]]


def rebuilt(conn: Connection, states: Table, history: Table) -> Rebuilt:
    """Read the rebuilt state rows and the history digests."""
    return Rebuilt(state_rows(conn, states), history_digests(conn, history))


def state_rows(conn: Connection, states: Table) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(select(states)).mappings()]


def history_digests(conn: Connection, history: Table) -> dict[tuple[str, str], list[Any]]:
    """Each workload's history digest: one aggregate over the history rows."""
    sums = [func.coalesce(func.sum(history.c[name]), 0) for name in DIGEST]
    return {
        (tenant, rt_id): values
        for tenant, rt_id, *values in conn.execute(
            select(history.c.tenant_id, history.c.workload_rt_id, *sums).group_by(
                history.c.tenant_id, history.c.workload_rt_id
            )
        )
    }


def check(conn: Connection, states: Table, history: Table, expected: Expected) -> None:
    """Raise `RebuildFailed` unless every column of every row of `states`, and every
    workload's history digest in `history`, is what `expected` says (`compare`)."""
    compare(rebuilt(conn, states, history), expected)


def compare(found: Rebuilt, expected: Expected) -> None:
    """Raise `RebuildFailed` unless every column of every rebuilt state row, and every
    workload's history digest, is what `expected` says; the message names the first
    workload and column that differ."""
    wrong: list[Difference] = []
    seen: set[str] = set()
    for row in found.states:
        key = row["workload_id"]
        seen.add(key)
        want = expected.states.get(key)
        if want is None:
            wrong.append((row["tenant_id"], row["workload_rt_id"], "(row)", "present", "absent"))
            continue
        for column, value in row.items():
            if not _same(value, want[column]):
                wrong.append((row["tenant_id"], row["workload_rt_id"], column, value, want[column]))
    for key in expected.states.keys() - seen:
        want = expected.states[key]
        wrong.append((want["tenant_id"], want["workload_rt_id"], "(row)", "absent", "present"))
    if not wrong:
        wrong = _check_history(found.digests, expected)
    if wrong:
        tenant, rt_id, column, value, folded = wrong[0]
        more = f" ({len(wrong) - 1} more differences)" if len(wrong) > 1 else ""
        raise RebuildFailed(
            f"rebuilt read model disagrees with the fold of the events: workload "
            f"{_short(tenant)}/{_short(rt_id)}, column {column}: rebuilt {_short(value)}, "
            f"folded {_short(folded)}{more}; the live read model is untouched"
        )


def _check_history(found: dict[tuple[str, str], list[Any]], expected: Expected) -> list[Difference]:
    wrong: list[Difference] = []
    for key, want in expected.states.items():
        ident = (want["tenant_id"], want["workload_rt_id"])
        got = found.get(ident, [0] * len(DIGEST))
        for name, value, folded in zip(DIGEST, got, expected.digests[key], strict=True):
            if not _close(float(value), folded):
                wrong.append((*ident, f"history {name} (sum)", value, folded))
    return wrong


def _same(value: Any, want: Any) -> bool:
    if isinstance(value, datetime) and isinstance(want, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        return bool(aware == want)
    if isinstance(value, memoryview):
        value = bytes(value)
    return bool(value == want)


def _close(value: float, want: float) -> bool:
    # Sums of floats in another order: equal to a few units in the last place.
    return abs(value - want) <= 1e-9 * max(1.0, abs(want))


def _short(value: Any, limit: int = 80) -> str:
    shown = value if isinstance(value, str) and value in ("present", "absent") else repr(value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
