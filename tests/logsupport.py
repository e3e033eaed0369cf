"""Helpers of the tamper-evident log's tests: raw SQL on the events, and the log recomputed
independently of the store's code (straight from the rows, with the domain's leaf encoding
and tree)."""

from __future__ import annotations

import sqlite3
from typing import Any
from uuid import UUID

import psycopg
from support import is_sqlite, report, sqlite_path

from deployledger import Ledger
from deployledger.domain.tlog.leaf import leaf_bytes
from deployledger.domain.tlog.merkle import leaf_hash, root

Row = tuple[int, bytes, int, str, bytes]


def events_table(url: str) -> tuple[str, str]:
    """The events table and its position column, on this backend."""
    return (
        ("stored_events", "rowid") if is_sqlite(url) else ("deployledger_events", "notification_id")
    )


def execute(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run raw SQL (`?` parameters) on the store, committed: the tamperer's tool."""
    if is_sqlite(url):
        with sqlite3.connect(sqlite_path(url)) as conn:
            rows = conn.execute(statement, params).fetchall()
        conn.close()
        return rows
    with psycopg.connect(url, autocommit=True) as pg:
        cur = pg.execute(statement.replace("?", "%s").encode(), params)
        return cur.fetchall() if cur.description else []


def event_rows(url: str) -> list[Row]:
    """Every stored event, in position order, as stored."""
    table, position = events_table(url)
    rows = execute(
        url,
        f"SELECT {position}, originator_id, originator_version, topic, state FROM {table} "
        f"ORDER BY {position}",
    )
    return [(p, _id(o), v, t, bytes(s)) for p, o, v, t, s in rows]


def _id(value: Any) -> bytes:
    return value.bytes if isinstance(value, UUID) else UUID(str(value)).bytes


def leaf_hashes_from_rows(rows: list[Row]) -> list[bytes]:
    return [leaf_hash(leaf_bytes(p, o, v, t, s)) for p, o, v, t, s in rows]


def root_from_rows(rows: list[Row]) -> bytes:
    return root(leaf_hashes_from_rows(rows))


def position_of(url: str, tenant: str, rtid: str, attempt: int) -> int:
    """The global position of a workload's attempt, from the read model."""
    rows = execute(
        url,
        "SELECT position FROM deployment_attempts WHERE tenant_id = ? AND workload_rt_id = ? "
        "AND attempt = ?",
        (tenant, rtid, attempt),
    )
    return int(rows[0][0])


def fleet(ledger: Ledger, *, workloads: int = 3, attempts: int = 4, tenant: str = "t1") -> None:
    """A few workloads with alternating outcomes; every failure has a distinct message."""
    batch = []
    for n in range(attempts):
        for w in range(workloads):
            ok = (n + w) % 2 == 0
            batch.append(
                report(
                    f"rt-{w}",
                    tenant=tenant,
                    success=ok,
                    message=None if ok else f"Error: UPGRADE FAILED: boom {w}/{n}",
                    messageId=f"{tenant}-{w}-{n}",
                )
            )
    for item in batch:
        ledger.record(item)
