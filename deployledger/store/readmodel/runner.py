"""The projection runner: applies events to the read model exactly once, in batches.

Each batch writes its read-model rows and the new tracking position in one transaction,
after taking the tracking row's lock. Any number of processes may catch up at once:
they serialise on that lock, and none applies an event twice. A crash at any point
resumes from the last committed position.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from deployledger.errors import ProjectionBehind, StoreUnavailable
from deployledger.projections.project import EventRecord, project
from deployledger.store.database import engine_url, pg_connect
from deployledger.store.errors import translated
from deployledger.store.events.application import events_table
from deployledger.store.events.bulk import bulk_insert
from deployledger.store.events.eventstore import EventStore, records_of_rows, rows_after
from deployledger.store.readmodel.tables import (
    deployment_attempts,
    lifecycle_events,
    projection_tracking,
    workload_history,
    workload_pools,
    workload_state,
)
from deployledger.store.tlog import tree as logtree
from deployledger.store.tlog.tree import hash_rows

LIVE = "read_model"
DEFAULT_BATCH = 2000
MIN_BATCH = 1000
BATCH_BYTES = 64 * 1024 * 1024  # rough bound on the events one batch holds in memory
FOLLOW_LOCK_KEY = 0x666F6C6C6F77  # "follow": one active follower per projection
OUTAGE_BACKOFF_FIRST = 0.5  # seconds before a follower reconnects after an outage
# At most a second between tries: after a failover the follower is back within a second of
# the new primary (it was up to 5 s, and the read model stayed behind as long).
OUTAGE_BACKOFF_MAX = 1.0
OUTAGE_REPEAT_EVERY = 30.0  # seconds between two reports of the same outage
CATCHING_UP = "the read model must catch up on new events first, and that writes to it"


@dataclass(frozen=True)
class ReadModelTables:
    """Where a projection writes: its tables and its tracking row."""

    name: str
    states: Table
    attempts: Table
    lifecycle: Table
    history: Table
    pools: Table

    @property
    def all(self) -> tuple[Table, Table, Table, Table, Table]:
        return (self.states, self.attempts, self.lifecycle, self.history, self.pools)


LIVE_TABLES = ReadModelTables(
    LIVE, workload_state, deployment_attempts, lifecycle_events, workload_history, workload_pools
)


class ProjectionRunner:
    """Catch up, follow, and wait for positions on one set of read-model tables.

    The live runner also appends each batch to the tamper-evident log; `keeps_log = False`
    turns that off (for the benchmark that measures what the log costs)."""

    keeps_log = True

    def __init__(
        self,
        events: EventStore,
        engine: Engine,
        *,
        tables: ReadModelTables = LIVE_TABLES,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self.events = events
        self.engine = engine
        self.tables = tables
        self.batch_size = batch_size
        self._limit = batch_size
        self.url = events.url
        # Read-model errors name the read model's database, which may be another one.
        self._read_model = engine_url(engine, events.url)
        self._what = "store" if self._read_model == events.url else "read model"

    def _resize(self, records: list[EventRecord]) -> None:
        # Bound a batch's memory by bytes as well as by count: long helm messages would
        # otherwise make a 20,000-event batch hold gigabytes.
        if not records:
            return
        size = sum(
            len(r.data.get("status_message") or r.data.get("message") or "") for r in records
        )
        per_event = 512 + size // len(records)
        self._limit = min(self.batch_size, max(MIN_BATCH, BATCH_BYTES // per_event))

    def position(self) -> int:
        """The last event position applied to the read model (0 before any)."""
        with translated(self._read_model, what=self._what), self.engine.connect() as conn:
            return _read_position(conn, self.tables.name)

    def catch_up(
        self, *, until: int | None = None, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Apply every event recorded so far (or up to `until`); return how many were applied.

        `progress(applied_in_batch, position)` is called after each committed batch.
        """
        applied = 0
        with translated(self._read_model, what=self._what, purpose=CATCHING_UP):
            # Nothing new (the common case for queries): answer without taking the lock,
            # so readers never queue behind a rebuild or a busy follower.
            latest = self.events.max_position()
            if until is not None:
                latest = min(latest, until)
            if self.position() >= latest:
                return 0
            ensure_tracking(self.engine, self.tables.name)
            while True:
                # Only what was recorded before the call: under a steady stream of writes,
                # going on to what arrives meanwhile chased the writers a few events a batch
                # (on PostgreSQL a query could wait for as long as they kept writing).
                done, position = self._apply_batch(latest)
                if done == 0:
                    return applied
                applied += done
                if progress is not None:
                    progress(done, position)

    def _apply_batch(self, until: int | None) -> tuple[int, int]:
        with self.engine.begin() as conn:
            position = lock_position(conn, self.tables.name)
            if until is not None and position >= until:
                return 0, position
            rows = rows_after(self.events, position, self._limit, upto=until)
            records = records_of_rows(self.events, rows)
            self._resize(records)
            if not records:
                return 0, position
            apply_records(conn, self.tables, records)
            last = records[-1].position
            if self.keeps_log and self.tables.name == LIVE:  # the log moves with live tracking
                logtree.advance(conn, self.events, last, logtree.Batch(position, hash_rows(rows)))
            conn.execute(
                update(projection_tracking)
                .where(projection_tracking.c.name == self.tables.name)
                .values(position=last)
            )
            return len(records), last

    def wait_for(self, position: int, timeout: float = 10.0) -> None:
        """Block until the read model has applied `position` (read-your-writes), or raise
        `ProjectionBehind` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            current = self.position()
            if current >= position:
                return
            if time.monotonic() >= deadline:
                raise ProjectionBehind(
                    f"read model is at position {current}, not {position}, after {timeout:g}s; "
                    "is a follower running (`deployledger project --follow`)?"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def follow(
        self,
        stop: threading.Event | None = None,
        *,
        poll_interval: float = 1.0,
        on_batch: Callable[[int, int], None] | None = None,
        on_leader: Callable[[], None] | None = None,
        on_standby: Callable[[], None] | None = None,
        on_idle: Callable[[], None] | None = None,
        on_outage: Callable[[StoreUnavailable], None] | None = None,
    ) -> None:
        """Keep the read model live until `stop` is set. `on_idle()` is called after each
        round of catching up (new events applied or not).

        PostgreSQL: only the holder of an advisory lock follows; others wait and take over
        when it dies (`on_standby()` is called once if it must wait, `on_leader()` once it
        leads). New events are announced by LISTEN/NOTIFY, and a poll every
        `poll_interval` seconds covers a lost notification. SQLite: polling.

        An outage (`StoreUnavailable`: the server is down, restarting, or was demoted by a
        failover, so the lock session is gone) never ends the follow: `on_outage(error)` is
        called, then the follower connects again (through the host list, to the new
        primary), takes the lock again and resumes at the tracked position, with a
        backoff of 0.5 s, then every second; `on_outage` hears of the same outage again
        only every `OUTAGE_REPEAT_EVERY` seconds. Exactly-once holds across it: every batch moves
        the tracking position in its own transaction, under the tracking row's lock.
        """
        stop = stop or threading.Event()
        backoff = OUTAGE_BACKOFF_FIRST
        said: tuple[str, float] | None = None  # the outage last reported, and when
        while not stop.is_set():
            began = time.monotonic()
            try:
                self._follow_session(stop, poll_interval, on_batch, on_leader, on_standby, on_idle)
                return
            except StoreUnavailable as e:
                if stop.is_set():
                    return
                now = time.monotonic()
                if now - began > 2 * OUTAGE_BACKOFF_MAX:  # it followed a while: a new outage
                    backoff, said = OUTAGE_BACKOFF_FIRST, None
                if on_outage is not None and (
                    said is None or said[0] != str(e) or now - said[1] >= OUTAGE_REPEAT_EVERY
                ):
                    on_outage(e)
                    said = (str(e), now)
                stop.wait(backoff)
                backoff = min(backoff * 2, OUTAGE_BACKOFF_MAX)

    def _follow_session(
        self,
        stop: threading.Event,
        poll_interval: float,
        on_batch: Callable[[int, int], None] | None,
        on_leader: Callable[[], None] | None,
        on_standby: Callable[[], None] | None,
        on_idle: Callable[[], None] | None,
    ) -> None:
        """One session of following: lead (or wait to), then catch up until `stop`."""
        with self._leadership(stop, on_standby) as listener:
            if stop.is_set():
                return
            if on_leader is not None:
                on_leader()
            while not stop.is_set():
                self.catch_up(progress=on_batch)
                if on_idle is not None:
                    on_idle()
                _wait_for_news(listener, stop, poll_interval)

    @contextmanager
    def _leadership(
        self, stop: threading.Event, on_standby: Callable[[], None] | None = None
    ) -> Iterator[Any]:
        if not self.url.is_postgres:
            yield None
            return
        with translated(self.url), pg_connect(self.url) as conn:
            key = FOLLOW_LOCK_KEY ^ zlib.crc32(self.tables.name.encode())
            waiting = False
            while not stop.is_set():
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if row and row[0]:
                    break
                if not waiting and on_standby is not None:
                    on_standby()
                waiting = True
                stop.wait(0.5)
            conn.execute(f'LISTEN "{events_table(self.url)}"')
            try:
                yield conn
            finally:
                if not conn.closed:
                    conn.execute("SELECT pg_advisory_unlock_all()")


def _wait_for_news(listener: Any, stop: threading.Event, poll_interval: float) -> None:
    """Return on a notification, when `stop` is set, or after `poll_interval` at the latest."""
    if listener is None:
        stop.wait(poll_interval)
        return
    deadline = time.monotonic() + poll_interval
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        for _ in listener.notifies(timeout=min(left, 0.2), stop_after=1):
            return


def ensure_tracking(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        found = conn.execute(
            select(projection_tracking.c.position).where(projection_tracking.c.name == name)
        ).first()
        if found is None:
            values = {"name": name, "position": 0}
            if engine.dialect.name == "postgresql":
                conn.execute(pg_insert(projection_tracking).values(values).on_conflict_do_nothing())
            else:
                conn.execute(insert(projection_tracking).values(values).prefix_with("OR IGNORE"))


def _read_position(conn: Connection, name: str) -> int:
    found = conn.execute(
        select(projection_tracking.c.position).where(projection_tracking.c.name == name)
    ).scalar()
    return int(found or 0)


def lock_position(conn: Connection, name: str) -> int:
    # A no-op write takes the row lock (and SQLite's write lock) before anything is read,
    # so concurrent runners queue here instead of applying the same events twice.
    conn.execute(
        update(projection_tracking)
        .where(projection_tracking.c.name == name)
        .values(position=projection_tracking.c.position)
    )
    return _read_position(conn, name)


def apply_records(conn: Connection, tables: ReadModelTables, records: list[EventRecord]) -> None:
    """Write one batch's row changes (attempt and lifecycle rows, and upserted state rows)."""
    states = tables.states
    keys = list({r.workload_id for r in records})
    existing: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for row in conn.execute(select(states).where(states.c.workload_id.in_(chunk))):
            existing[row.workload_id] = dict(row._mapping)
    changes = project(records, existing)
    if changes.attempts:
        bulk_insert(conn, tables.attempts, changes.attempts)
    if changes.lifecycle:
        bulk_insert(conn, tables.lifecycle, changes.lifecycle)
    if changes.history:
        bulk_insert(conn, tables.history, changes.history)
    if changes.pools:
        add_pools(conn, tables.pools, changes.pools)
    inserts = [changes.states[k] for k in changes.new_states]
    updates = [
        {**row, "b_workload_id": key}
        for key, row in changes.states.items()
        if key not in changes.new_states
    ]
    if inserts:
        conn.execute(insert(states), inserts)
    if updates:
        columns = [c.name for c in states.columns if c.name not in ("tenant_id", "workload_rt_id")]
        stmt = (
            update(states)
            .where(states.c.workload_id == bindparam("b_workload_id"))
            .values({name: bindparam(name) for name in columns if name != "workload_id"})
        )
        conn.execute(stmt, updates)


def add_pools(conn: Connection, table: Table, pools: set[tuple[str, str, str]]) -> None:
    """Record pool memberships, keeping those already known."""
    rows = [{"pool": p, "tenant_id": t, "workload_rt_id": w} for p, t, w in sorted(pools)]
    if conn.dialect.name == "postgresql":
        conn.execute(pg_insert(table).on_conflict_do_nothing(), rows)
    else:
        conn.execute(insert(table).prefix_with("OR IGNORE"), rows)
