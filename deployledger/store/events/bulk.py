"""Bulk appends through the driver, inside a SQLAlchemy connection's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import sql as psql
from sqlalchemy import Connection, DateTime, Table


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Append rows through the driver, inside the connection's transaction: COPY on
    PostgreSQL, executemany on SQLite (in SQLAlchemy's own storage format for timestamps).
    Per-row statement building in SQLAlchemy costs more than the database work here."""
    columns = [c.name for c in table.columns]
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        copy_sql = psql.SQL("COPY {} ({}) FROM STDIN").format(
            psql.Identifier(table.name), psql.SQL(", ").join(map(psql.Identifier, columns))
        )
        with raw.cursor() as cur, cur.copy(copy_sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row([row[c] for c in columns])
        return
    marks = ", ".join("?" * len(columns))
    names = ", ".join(f'"{c}"' for c in columns)
    stamps = {i for i, c in enumerate(table.columns) if isinstance(c.type, DateTime)}
    values = [[row[c] for c in columns] for row in rows]
    for value in values:
        for i in stamps:
            if value[i] is not None:
                value[i] = sqlite_time(value[i])
    raw.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', values)  # type: ignore[union-attr]


def sqlite_time(value: datetime) -> str:
    # SQLAlchemy's storage format for SQLite DateTime columns, in UTC.
    return value.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")[:26]
