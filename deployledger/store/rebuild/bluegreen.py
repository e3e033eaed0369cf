"""Rebuild the read model beside the live one, check it, then switch atomically.

1. Fresh `*_next` tables are created (leftovers of an interrupted rebuild are dropped)
   and every event is replayed into them in batches, with indexes built afterwards.
2. They are checked against the event store: the number of attempt rows and lifecycle
   rows, and every workload's attempt count; then every column of every workload's state
   row, and a digest of its history rows, against the fold of the same events in Python
   (`foldcheck`), so that a drift of the SQL fold stops the rebuild before the switch.
3. One transaction takes the live tracking lock, applies what arrived meanwhile, and
   swaps the tables. Readers see the old read model until that commit, then the new one;
   an interrupted rebuild leaves the live read model untouched.

A projection schema change ships the same way: new tables built beside, then switched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

from sqlalchemy import (
    Connection,
    Engine,
    Index,
    Table,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.schema import CreateIndex, CreateTable

from deployledger.domain.storeurl import StoreURL
from deployledger.domain.workload.records import RebuildResult
from deployledger.errors import RebuildFailed
from deployledger.projections.project import EventRecord
from deployledger.store.database import engine_url
from deployledger.store.errors import translated
from deployledger.store.events.eventstore import (
    EventStore,
    attempt_counts,
    qualified_events_table,
    read_after,
    records_of_rows,
)
from deployledger.store.readmodel.failures import record_version
from deployledger.store.readmodel.runner import (
    LIVE,
    LIVE_TABLES,
    ProjectionRunner,
    ReadModelTables,
    apply_records,
    ensure_tracking,
    lock_position,
)
from deployledger.store.readmodel.tables import (
    READ_MODEL_TABLES,
    projection_tracking,
    shadow_tables,
)
from deployledger.store.rebuild import foldcheck
from deployledger.store.rebuild.fold import SetFold
from deployledger.store.rebuild.stage import Stage
from deployledger.store.tlog import tree as logtree

NEXT = "next"
PREV = "prev"


Progress = Callable[[int, int], None]


def rebuild(
    events: EventStore,
    engine: Engine,
    *,
    batch_size: int = 20_000,
    progress: Progress | None = None,
) -> RebuildResult:
    """Replay every event into fresh tables, verify them, and switch them in atomically."""
    url = events.url
    meta, *shadows = shadow_tables(NEXT)
    tables = ReadModelTables(f"{LIVE}_{NEXT}", *shadows)
    with translated(url):
        ensure_tracking(engine, LIVE)
        with engine.begin() as conn:
            meta.drop_all(conn, checkfirst=True)
            for table in tables.all:
                conn.execute(CreateTable(table))  # indexes come after the bulk load
            conn.execute(
                delete(projection_tracking).where(projection_tracking.c.name == tables.name)
            )
        runner = ProjectionRunner(events, engine, tables=tables, batch_size=batch_size)
        found: foldcheck.Rebuilt | None = None
        expected: foldcheck.Expected | None = None
        if _set_based(engine, url):
            applied, found, expected = _fold_in_database(
                events, engine, tables, batch_size, progress
            )
        else:
            applied = runner.catch_up(progress=progress)
            if foldcheck._ENABLED:
                expected = _fold_stored(events, runner.position(), batch_size)
        if engine.dialect.name == "postgresql":  # SQLite builds them once, in the switch
            with engine.begin() as conn:
                for table in tables.all:
                    for index in sorted(table.indexes, key=lambda i: i.name or ""):
                        conn.execute(CreateIndex(index))
                for table in tables.all:
                    conn.execute(text(f'ANALYZE "{table.name}"'))
        position = runner.position()
        _verify(events, engine, tables, position)
        if expected is not None:
            if found is None:
                with engine.connect() as conn:
                    found = foldcheck.rebuilt(conn, tables.states, tables.history)
            foldcheck.compare(found, expected)
        result = _switch(events, engine, tables)
        with engine.begin() as conn:
            for name in (f"{t}_{PREV}" for t in READ_MODEL_TABLES):
                conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
        return RebuildResult(applied, result[0], result[1], result[2])


def _set_based(engine: Engine, url: StoreURL) -> bool:
    """Whether the rebuild can project inside the database: the events are in the same one,
    and it has what the SQL needs (SQLite 3.38's unixepoch; PostgreSQL 14's exact numeric
    EXTRACT, for durations to the microsecond)."""
    if engine_url(engine, url) != url:
        return False
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version_num")).scalar_one()
        return int(version) >= 140000
    return sqlite3.sqlite_version_info >= (3, 38)


def _fold_in_database(
    events: EventStore,
    engine: Engine,
    tables: ReadModelTables,
    chunk: int,
    progress: Progress | None,
) -> tuple[int, foldcheck.Rebuilt | None, foldcheck.Expected | None]:
    """Project every event recorded so far with set-based SQL (`setfold`), in
    position-ranged chunks; return how many events there were, and for the check, the rows
    written and what the fold of the same staged events in Python gives (folded in a thread
    while the SQL folds and writes)."""
    upto = events.max_position()
    folder: foldcheck.Folder | None = None

    def feed(conn: Connection) -> None:
        if folder is not None:
            folder.feed(conn)

    with engine.connect() as conn:
        stage = Stage(conn, qualified_events_table(events.url))
        fold = SetFold(conn, tables)
        with conn.begin():
            stage.create()
        try:
            ranges = [(lo, min(lo + chunk, upto)) for lo in range(0, upto, chunk)]
            for lo, hi in ranges:
                with conn.begin():
                    staged = stage.stage_chunk(lo, hi, lambda rows: records_of_rows(events, rows))
                if progress is not None:
                    progress(staged, hi)
            if foldcheck._ENABLED:  # after the staging: see `Folder`
                folder = foldcheck.Folder(conn)
            with conn.begin():
                stage.analyze()
                feed(conn)
                fold.fold_all()
                feed(conn)
                fold.fold_after()
            # The history needs no failure field: it is written while the workers finish.
            for lo, hi in ranges:
                with conn.begin():
                    feed(conn)
                    fold.write_history(lo, hi)
            digests = None  # read while the fold goes on; nothing writes the history after
            if folder is not None:
                with conn.begin():
                    feed(conn)
                    digests = foldcheck.history_digests(conn, tables.history)
            with conn.begin():
                feed(conn)
                stage.finish_failures()
            for lo, hi in ranges:
                with conn.begin():
                    feed(conn)
                    fold.write_attempts(lo, hi)
                    feed(conn)
                    fold.write_lifecycle(lo, hi)
            with conn.begin():
                feed(conn)
                fold.write_states()
                fold.write_pools()
                conn.execute(insert(projection_tracking).values(name=tables.name, position=upto))
                total = conn.execute(
                    text(
                        f"SELECT count(*) FROM {stage.events_table} WHERE {stage.position} <= :upto"
                    ),
                    {"upto": upto},
                ).scalar_one()
            found, expected = None, None
            if folder is not None and digests is not None:
                with conn.begin():
                    found = foldcheck.Rebuilt(foldcheck.state_rows(conn, tables.states), digests)
                    expected = folder.finish(conn)
        finally:
            if folder is not None:
                folder.close()
            with conn.begin():
                stage.drop()
    return int(total), found, expected


def _fold_stored(events: EventStore, upto: int, chunk: int) -> foldcheck.Expected:
    """The fold of the stored events up to `upto`, read in chunks (the replay path)."""

    def records() -> Iterator[EventRecord]:
        position = 0
        while position < upto and (found := read_after(events, position, chunk)):
            yield from (r for r in found if r.position <= upto)
            position = found[-1].position

    return foldcheck.fold_events(foldcheck.stored_events(records()))


def _verify(events: EventStore, engine: Engine, tables: ReadModelTables, position: int) -> None:
    expected, lifecycle = attempt_counts(events, position)
    with engine.connect() as conn:
        found = dict(
            conn.execute(select(tables.states.c.workload_id, tables.states.c.attempts)).all()
        )
        rows = conn.execute(select(func.count()).select_from(tables.attempts)).scalar_one()
        steps = conn.execute(select(func.count()).select_from(tables.lifecycle)).scalar_one()
        states = conn.execute(select(func.count()).select_from(tables.history)).scalar_one()
    total = sum(expected.values())
    if rows != total:
        raise RebuildFailed(f"rebuilt read model has {rows} attempt rows, the event store {total}")
    if steps != lifecycle:
        raise RebuildFailed(
            f"rebuilt read model has {steps} lifecycle rows, the event store {lifecycle}"
        )
    if states != total + lifecycle:
        raise RebuildFailed(
            f"rebuilt read model has {states} history rows, the event store "
            f"{total + lifecycle} outcomes and lifecycle events"
        )
    wrong = [k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k)]
    if wrong:
        raise RebuildFailed(
            f"rebuilt read model disagrees with the event store on {len(wrong)} workloads "
            f"(first: {sorted(wrong)[0]})"
        )


def _switch(events: EventStore, engine: Engine, tables: ReadModelTables) -> tuple[int, int, int]:
    with engine.begin() as conn:
        lock_position(conn, LIVE)
        position = lock_position(conn, tables.name)
        while records := read_after(events, position, 5000):
            apply_records(conn, tables, records)
            position = records[-1].position
        # The log is not rebuilt (its leaves do not depend on the projection), only brought
        # up to the new live position, and recomputed from the events if its tables were
        # emptied or lost rows.
        logtree.repair(conn, events, position)
        workloads = conn.execute(select(func.count()).select_from(tables.states)).scalar_one()
        attempts = conn.execute(select(func.count()).select_from(tables.attempts)).scalar_one()
        if conn.dialect.name == "postgresql":
            _swap_postgres(conn, tables)
        else:
            _swap_sqlite(conn, tables)
        conn.execute(
            update(projection_tracking)
            .where(projection_tracking.c.name == LIVE)
            .values(position=position)
        )
        conn.execute(delete(projection_tracking).where(projection_tracking.c.name == tables.name))
        record_version(conn)  # every category and fingerprint was derived by these rules
    return position, workloads, attempts


def _pairs(live: Table, other: Table) -> list[tuple[Index, Index]]:
    by_columns = {tuple(c.name for c in i.columns): i for i in other.indexes}
    return [(i, by_columns[tuple(c.name for c in i.columns)]) for i in live.indexes]


def _swap_postgres(conn: Connection, tables: ReadModelTables) -> None:
    # Renames are catalogue updates: readers wait a moment on the lock, never see a gap.
    _, *previous = shadow_tables(PREV)
    for live, nxt, prev in zip(LIVE_TABLES.all, tables.all, previous, strict=True):
        conn.execute(text(f"DROP TABLE IF EXISTS {prev.name}"))
        _rename_table(conn, live, prev)
        _rename_table(conn, nxt, live)


def _rename_table(conn: Connection, old: Table, new: Table) -> None:
    conn.execute(text(f'ALTER TABLE "{old.name}" RENAME TO "{new.name}"'))
    for old_c, new_c in zip(_constraints(old), _constraints(new), strict=True):
        conn.execute(text(f'ALTER TABLE "{new.name}" RENAME CONSTRAINT "{old_c}" TO "{new_c}"'))
    for old_i, new_i in _pairs(old, new):
        conn.execute(text(f'ALTER INDEX "{old_i.name}" RENAME TO "{new_i.name}"'))


def _constraints(table: Table) -> list[str]:
    names = [str(table.primary_key.name)]
    names += sorted(str(c.name) for c in table.constraints if c.name and c is not table.primary_key)
    return names


def _swap_sqlite(conn: Connection, tables: ReadModelTables) -> None:
    # SQLite cannot rename indexes, so the live tables are dropped and the new ones get
    # their canonically named indexes here, built once. WAL readers keep seeing the old
    # read model until the commit.
    for live, nxt in zip(LIVE_TABLES.all, tables.all, strict=True):
        conn.execute(text(f'DROP TABLE "{live.name}"'))
        for index in nxt.indexes:
            conn.execute(text(f'DROP INDEX IF EXISTS "{index.name}"'))
        conn.execute(text(f'ALTER TABLE "{nxt.name}" RENAME TO "{live.name}"'))
        for index in live.indexes:
            conn.execute(CreateIndex(index))
        conn.execute(text(f'ANALYZE "{live.name}"'))
