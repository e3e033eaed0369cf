"""The audit export as CSV (`Ledger.audit_csv`): one streamed statement whose rows are the
CSV lines themselves, made by the database.

Python's csv writer costs more per row than the database takes to read it, so the database
writes each line: every cell formatted as `audit -o csv` writes it (the tests compare the
two byte for byte on both backends), quoted as Python's csv writer quotes (minimal quoting:
a cell holding a comma, a quote, CR or LF is quoted, its quotes doubled). The few rows
whose exact message is kept as bytes (a NUL on PostgreSQL) are written again from the
attempt by Python's csv writer, with the NUL escape of `domain.export`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    type_coerce,
)

from deployledger.domain.export import AUDIT_CSV_COLUMNS, csv_row
from deployledger.domain.records import AuditQuery
from deployledger.domain.state import DeploymentState
from deployledger.projections.rows import attempt_from_row
from deployledger.store import queries
from deployledger.store.tables import deployment_attempts

CSV_ROWS = 5000


def _s(text: str) -> ColumnElement[str]:
    return literal(text, String)


def _iso(conn: Connection, column: Any) -> ColumnElement[str]:
    """A stored UTC time as `datetime.isoformat()` writes it (microseconds left out when
    they are 0, `+00:00` at the end); "" for NULL."""
    if conn.dialect.name == "postgresql":
        utc = func.timezone("UTC", column)
        micro = func.to_char(utc, ".US")
        cell = (
            func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS')
            + case((micro == ".000000", ""), else_=micro)
            + _s("+00:00")
        )
    else:  # stored as text, 'YYYY-MM-DD HH:MM:SS.ffffff': two replaces are the cheapest
        cell = func.replace(
            func.replace(type_coerce(column, String) + _s("+00:00"), _s(".000000+"), _s("+")),
            _s(" "),
            _s("T"),
        )
    return cell  # NULL for NULL (an empty cell)


def _nonempty(value: Any) -> ColumnElement[Any]:
    """PostgreSQL's CSV quotes an empty string (`""`, to tell it from NULL); Python's csv
    writer writes both as nothing: so do we."""
    return func.nullif(value, "")


def _flag(column: Any) -> ColumnElement[str]:
    return case((column.is_(True), "true"), else_="false")


def _cells(conn: Connection) -> list[ColumnElement[Any]]:
    """The cells of one attempt's CSV line (the columns of `domain.export`),
    for the backend's CSV writer: PostgreSQL's COPY, or Python's csv writer (SQLite)."""
    c = deployment_attempts.c
    labels = {int(s): s.label for s in DeploymentState}
    pg = conn.dialect.name == "postgresql"
    text = _nonempty if pg else (lambda value: value)
    duration: ColumnElement[Any] = c.duration
    if pg:  # float8 is written in its shortest exact form, as repr() does, but 30 for 30.0
        whole = and_(c.duration == func.trunc(c.duration), func.abs(c.duration) < 1e15)
        as_int = cast(cast(c.duration, BigInteger), String) + _s(".0")
        duration = case((whole, as_int), else_=cast(c.duration, String))
    # SQLite hands a REAL to Python, whose csv writer writes its repr().
    return [
        text(c.tenant_id),
        text(c.workload_rt_id),
        _s("outcome"),
        c.attempt,
        _iso(conn, c.recorded_at),
        _iso(conn, c.reported_at),
        _flag(c.success),
        case(*((c.state == n, label) for n, label in labels.items()), else_=None),
        text(c.status_message),
        text(c.workload_name),
        text(c.pool_name),
        text(c.message_id),
        c.position,
        _flag(c.message_truncated),
        text(c.chart_name),
        text(c.chart_version),
        c.request_position,
        duration,
        text(c.helm_operation),
        c.exit_code,
        _s("false"),  # statusMessageEscaped: such rows are written again (see `_again`)
    ]


def audit_csv(
    engine: Engine, query: AuditQuery, tenants: Sequence[str] | None = None
) -> Iterator[bytes]:
    """Every attempt matching `query` (and of any of `tenants`, when given), newest first, as
    UTF-8 CSV in chunks, the header first: one statement, streamed."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(AUDIT_CSV_COLUMNS)
    yield out.getvalue().encode()
    with engine.connect() as conn:
        c = deployment_attempts.c
        where = queries.audit_where(conn, query)
        if tenants is not None:
            where.append(c.tenant_id.in_(list(tenants)))
        # The last cell: the position of an attempt whose exact message is kept as bytes
        # (its line is written again from the attempt), else empty.
        exact = case((c.status_message_exact.is_not(None), c.position), else_=None)
        stmt = select(*_cells(conn), exact).where(and_(True, *where))
        stmt = stmt.order_by(c.position.desc())
        if conn.dialect.name == "postgresql":
            yield from _copied(engine, conn, stmt)
        else:
            yield from _written(engine, conn, stmt)


def _copied(engine: Engine, conn: Connection, stmt: Select[Any]) -> Iterator[bytes]:
    """PostgreSQL: `COPY (stmt) TO STDOUT (FORMAT csv)`, each row's LF made CRLF and its
    last cell (the exact message's position) taken off."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    sql = f"COPY ({compiled.string}) TO STDOUT (FORMAT csv)"
    raw = conn.connection.driver_connection
    assert raw is not None
    lines: list[bytes] = []
    with raw.cursor() as cursor, cursor.copy(sql, compiled.params) as copy:
        for block in copy:  # one row per block
            row = bytes(block)
            if row.endswith(b",\n"):
                lines.append(row[:-2] + b"\r\n")
            else:
                position = int(row[row.rindex(b",") + 1 : -1])
                lines.append(_again(engine, position))
            if len(lines) >= CSV_ROWS:
                yield b"".join(lines)
                lines.clear()
    if lines:
        yield b"".join(lines)


def _written(engine: Engine, conn: Connection, stmt: Select[Any]) -> Iterator[bytes]:
    """SQLite: the cells read in chunks and written by Python's csv writer."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    # Every cell is formatted by the query: the driver's own tuples need no processing.
    cursor = conn.execute(stmt).cursor
    while rows := cursor.fetchmany(CSV_ROWS):
        out.seek(0)
        out.truncate()
        if all(row[-1] is None for row in rows):
            writer.writerows(row[:-1] for row in rows)
        else:
            for row in rows:
                if row[-1] is None:
                    writer.writerow(row[:-1])
                else:
                    out.write(_again(engine, row[-1]).decode())
        yield out.getvalue().encode()


def _again(engine: Engine, position: int) -> bytes:
    """The CSV line of one attempt written from the attempt itself, with the message's NUL
    escape (read on another connection: the first one is streaming)."""
    c = deployment_attempts.c
    with engine.connect() as other:
        row = other.execute(select(deployment_attempts).where(c.position == position)).one()
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(csv_row(attempt_from_row(row._mapping)))
    return out.getvalue().encode()
