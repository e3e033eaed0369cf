"""Fresh stores (a temporary SQLite file, or a scratch PostgreSQL database) and the raw
floors: plain sqlite3 / psycopg writing similar rows into a similar table."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from bench.data import Row

BACKENDS = ("sqlite", "postgres")


@dataclass(frozen=True)
class Target:
    """Where a backend's fresh stores go: a temp root for SQLite, a server for PostgreSQL."""

    backend: str
    tmp_root: str | None = None
    postgres_dsn: str = ""


@dataclass(frozen=True)
class Store:
    """One fresh, empty store: `url` for the library, `path` / `dsn` for a floor."""

    backend: str
    url: str
    path: str = ""
    dsn: str = ""
    dbname: str = ""


@contextlib.contextmanager
def fresh_store(target: Target) -> Iterator[Store]:
    if target.backend == "sqlite":
        tmp = tempfile.mkdtemp(prefix="dlbench-", dir=target.tmp_root)
        try:
            path = str(Path(tmp, "store.db").resolve())
            yield Store("sqlite", url=f"sqlite:///{path}", path=path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    name = f"dlbench_{uuid.uuid4().hex[:12]}"
    with _admin(target.postgres_dsn) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield Store(
            "postgres",
            url=_ledger_url(target.postgres_dsn, name),
            dsn=_dsn(target, name),
            dbname=name,
        )
    finally:
        with _admin(target.postgres_dsn) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def stall_watchdog(
    store: Store, target: Target, *, stall_s: float = 15.0, limit_s: float = 900.0
) -> Iterator[list[str]]:
    """Unblock a PostgreSQL client that hangs: terminate the store's server sessions when
    one of them has waited `stall_s` for the client in the middle of a query (state
    'active', wait event ClientRead: a client-side deadlock, since the server has nothing
    to do but read), or when the block runs longer than `limit_s`. The client then gets
    an error instead of hanging forever. Yields a list that receives the reason, if fired.
    """
    fired: list[str] = []
    if store.backend != "postgres":
        yield fired
        return
    stop = threading.Event()
    others = (
        "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    )

    def watch() -> None:
        started = time.monotonic()
        since: dict[int, float] = {}
        with _admin(target.postgres_dsn) as conn:
            while not stop.wait(1.0):
                rows = conn.execute(
                    "SELECT pid, state, wait_event " + others, (store.dbname,)
                ).fetchall()
                now = time.monotonic()
                since = {
                    pid: since.get(pid, now)
                    for pid, state, wait in rows
                    if state == "active" and wait == "ClientRead"
                }
                if any(now - t >= stall_s for t in since.values()):
                    reason = (
                        f"hung: the server waited {stall_s:.0f}s for the client in the middle "
                        "of a query (client-side deadlock); sessions terminated"
                    )
                elif now - started >= limit_s:
                    reason = f"took over {limit_s:.0f}s; sessions terminated"
                else:
                    continue
                fired.append(reason)
                conn.execute("SELECT pg_terminate_backend(pid) " + others, (store.dbname,))
                return

    thread = threading.Thread(target=watch, name="bench-watchdog", daemon=True)
    thread.start()
    try:
        yield fired
    finally:
        stop.set()
        thread.join()


def _admin(dsn: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=True, connect_timeout=5)


def _dsn(target: Target, dbname: str) -> str:
    params = conninfo_to_dict(target.postgres_dsn)
    params["dbname"] = dbname
    return " ".join(f"{k}='{_escape(str(v))}'" for k, v in params.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _ledger_url(dsn: str, dbname: str) -> str:
    params = conninfo_to_dict(dsn)
    user = quote(str(params.get("user", "postgres")), safe="")
    password = params.get("password")
    auth = user + (":" + quote(str(password), safe="") if password else "")
    host = params.get("host", "127.0.0.1")
    port = params.get("port", 5432)
    return f"postgresql://{auth}@{host}:{port}/{dbname}"


def check_postgres(dsn: str) -> str | None:
    """None if the server answers, else why not (without the password)."""
    try:
        with _admin(dsn) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        password = conninfo_to_dict(dsn).get("password")
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return text.replace(str(password), "***") if password else text
    return None


def postgres_settings(dsn: str) -> dict[str, str]:
    with _admin(dsn) as conn:
        out = {}
        for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method"):
            row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            out[name] = str(row[0]) if row else "?"
        return out


class Floor(Protocol):
    def settings(self) -> dict[str, str]: ...
    def insert_one(self, row: Row) -> None: ...
    def insert_many(self, rows: Sequence[Row]) -> None: ...
    def close(self) -> None: ...


class SQLiteFloor:
    """sqlite3 as a careful user would write it: WAL, synchronous=FULL, one
    BEGIN/INSERT/COMMIT per row, into the library's table shape (rowid table with a
    (id, version) primary key)."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS floor_events (originator_id TEXT, "
            "originator_version INTEGER, topic TEXT, state BLOB, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        self.insert = "INSERT INTO floor_events VALUES (?, ?, ?, ?)"

    def settings(self) -> dict[str, str]:
        mode = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = self.conn.execute("PRAGMA synchronous").fetchone()[0]
        return {"journal_mode": str(mode), "synchronous": _SQLITE_SYNC.get(sync, str(sync))}

    def insert_one(self, row: Row) -> None:
        wid, version, topic, state = row
        self.conn.execute("BEGIN")
        self.conn.execute(self.insert, (wid.hex, version, topic, state))
        self.conn.execute("COMMIT")

    def insert_many(self, rows: Sequence[Row]) -> None:
        self.conn.execute("BEGIN")
        self.conn.executemany(self.insert, [(w.hex, v, t, s) for w, v, t, s in rows])
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


_SQLITE_SYNC = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


class PostgresFloor:
    """psycopg 3 as a careful user would write it: synchronous_commit=on, one INSERT +
    COMMIT per row, into the library's table shape (uuid/version primary key, bigserial
    position with a unique index)."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=False)
        self.conn.execute("SET synchronous_commit = on")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS floor_events (originator_id uuid NOT NULL, "
            "originator_version bigint NOT NULL, topic text, state bytea, "
            "notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
        )
        self.conn.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS floor_events_notification_id_idx "
            "ON floor_events (notification_id)"
        )
        self.conn.commit()
        self.insert = (
            "INSERT INTO floor_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)"
        )

    def settings(self) -> dict[str, str]:
        row = self.conn.execute("SHOW synchronous_commit").fetchone()
        self.conn.commit()
        return {"synchronous_commit": str(row[0]) if row else "?"}

    def insert_one(self, row: Row) -> None:
        self.conn.execute(self.insert, row)
        self.conn.commit()

    def insert_many(self, rows: Sequence[Row]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(self.insert, rows)
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


def open_floor(store: Store) -> SQLiteFloor | PostgresFloor:
    if store.backend == "sqlite":
        return SQLiteFloor(store.path)
    return PostgresFloor(store.dsn)
