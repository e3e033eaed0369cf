"""The raw floors: plain sqlite3 / psycopg writing similar rows into a similar table, as a
careful user would write them, with the library's durability.

- `Floor.insert_one`: one INSERT + COMMIT (SQLite: WAL, synchronous=FULL, BEGIN/INSERT/
  COMMIT; PostgreSQL: synchronous_commit=on), the floor of `record()`;
- `Floor.insert_many`: one `executemany` in one transaction, the floor of `record_many()`;
- `rebuild_floor`: a raw select of every stored event, fetched fully, plus a raw bulk insert
  of the same rows into a table like the event table (SQLite `executemany`, PostgreSQL
  binary COPY), the floor of a read-model rebuild.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

from bench.data import ATTEMPT_TOPIC, REGISTERED_TOPIC, Row
from bench.stores import Store

_COLUMNS = "originator_id, originator_version, topic, state"
_SQLITE_TABLE = (
    "CREATE TABLE IF NOT EXISTS floor_events (originator_id TEXT, originator_version INTEGER, "
    "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
)
# The shape of the library's PostgreSQL event table: a (uuid, version) primary key and a
# bigserial position with a unique index.
_POSTGRES_TABLE = (
    "CREATE TABLE IF NOT EXISTS floor_events (originator_id uuid NOT NULL, "
    "originator_version bigint NOT NULL, topic text, state bytea, notification_id bigserial, "
    "PRIMARY KEY (originator_id, originator_version));"
    "CREATE UNIQUE INDEX IF NOT EXISTS floor_events_position ON floor_events (notification_id)"
)


class Floor:
    """A floor table in a fresh store; a context manager that closes its connection."""

    def __init__(self, store: Store) -> None:
        self.sqlite = store.backend == "sqlite"
        self.conn: Any
        if self.sqlite:
            self.conn = sqlite3.connect(store.path, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute(_SQLITE_TABLE)
            self.insert = f"INSERT INTO floor_events ({_COLUMNS}) VALUES (?, ?, ?, ?)"
        else:
            self.conn = psycopg.connect(store.url)
            self.conn.execute("SET synchronous_commit = on")
            self.conn.execute(_POSTGRES_TABLE)
            self.conn.commit()
            self.insert = f"INSERT INTO floor_events ({_COLUMNS}) VALUES (%s, %s, %s, %s)"

    def __enter__(self) -> Floor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.conn.close()

    def settings(self) -> str:
        if not self.sqlite:
            value = self.conn.execute("SHOW synchronous_commit").fetchone()[0]
            self.conn.commit()
            return f"synchronous_commit={value}"
        mode = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = self.conn.execute("PRAGMA synchronous").fetchone()[0]
        return f"journal_mode={mode}, synchronous={('OFF', 'NORMAL', 'FULL', 'EXTRA')[sync]}"

    def _begin(self) -> None:
        if self.sqlite:
            self.conn.execute("BEGIN")

    def _commit(self) -> None:
        self.conn.execute("COMMIT") if self.sqlite else self.conn.commit()

    def insert_one(self, row: Row) -> None:
        self._begin()
        self.conn.execute(self.insert, (row[0].hex, *row[1:]) if self.sqlite else row)
        self._commit()

    def insert_many(self, rows: Sequence[Row]) -> None:
        self.bulk([(r[0].hex, *r[1:]) for r in rows] if self.sqlite else rows)

    def bulk(self, params: Sequence[Sequence[Any]], insert: str = "") -> None:
        """One `executemany` in one transaction."""
        self._begin()
        with contextlib.closing(self.conn.cursor()) as cur:
            cur.executemany(insert or self.insert, params)
        self._commit()


def stored_event_bytes(store: Store) -> float:
    """Mean size of the library's stored attempt events (to compare with the floor rows)."""
    size = "length" if store.backend == "sqlite" else "octet_length"
    query = f"SELECT avg({size}(state)) FROM {store.events_table} WHERE topic = '{ATTEMPT_TOPIC}'"
    with _connect(store) as conn:
        row = conn.execute(query).fetchone()
    return float(row[0]) if row and row[0] is not None else float("nan")


def stored_rows(store: Store) -> list[Row]:
    """Every stored event but the registrations, oldest first, as floor rows: the exact bytes
    the library stored, so that a floor writes rows of the same size."""
    position = "rowid" if store.backend == "sqlite" else "notification_id"
    query = (
        f"SELECT {_COLUMNS} FROM {store.events_table} "
        f"WHERE topic <> '{REGISTERED_TOPIC}' ORDER BY {position}"
    )
    with _connect(store) as conn:
        found = conn.execute(query).fetchall()
    return [(uuid.UUID(str(i)), int(v), str(t), bytes(s)) for i, v, t, s in found]


def _connect(store: Store) -> contextlib.AbstractContextManager[Any]:
    if store.backend == "sqlite":
        return contextlib.closing(sqlite3.connect(store.path))
    return psycopg.connect(store.url)


def rebuild_floor(store: Store) -> tuple[float, float]:
    """Seconds of the raw select of every stored event, and of the raw bulk insert."""
    with _connect(store) as conn:
        t0 = time.perf_counter()
        position = "rowid" if store.backend == "sqlite" else "notification_id"
        query = f"SELECT {_COLUMNS}, {position} FROM {store.events_table}"
        rows = conn.execute(query).fetchall()
        select_s = time.perf_counter() - t0
        if store.backend == "postgres":
            return select_s, _copy_postgres(conn, rows)
    target = Path(store.path).with_name("floor.db")
    try:
        with Floor(Store("sqlite", "", str(target))) as floor:
            t0 = time.perf_counter()
            floor.bulk(rows, f"INSERT INTO floor_events ({_COLUMNS}, rowid) VALUES (?, ?, ?, ?, ?)")
            return select_s, time.perf_counter() - t0
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)


def _copy_postgres(conn: psycopg.Connection[Any], rows: list[Any]) -> float:
    # Same columns, primary key and unique position index as the event table.
    conn.execute("CREATE TABLE floor_events (LIKE deployledger_events INCLUDING INDEXES)")
    conn.commit()
    try:
        t0 = time.perf_counter()
        columns = f"{_COLUMNS}, notification_id"
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY floor_events ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(["uuid", "int8", "text", "bytea", "int8"])
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - t0
    finally:
        conn.rollback()
        conn.execute("DROP TABLE IF EXISTS floor_events")
        conn.commit()
