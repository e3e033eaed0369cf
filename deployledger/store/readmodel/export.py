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
from collections.abc import Iterator
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Numeric,
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

from deployledger.domain.auditfilter import AuditFilter
from deployledger.domain.insights.export import AUDIT_CSV_COLUMNS, csv_row
from deployledger.domain.workload.state import DeploymentState
from deployledger.projections.rows import attempt_from_row
from deployledger.store.readmodel import queries
from deployledger.store.readmodel.tables import deployment_attempts

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


def _quoted(value: Any) -> ColumnElement[Any]:
    """SQLite: text quoted as Python's csv writer quotes it: when it holds a comma, a quote,
    CR or LF, in quotes, its quotes doubled."""
    text = type_coerce(value, String)
    quoted = _s('"') + func.replace(text, _s('"'), _s('""')) + _s('"')
    return case((text.op("GLOB")(_s('*[,"\r\n]*')), quoted), else_=text)


def _cells(conn: Connection) -> list[ColumnElement[Any]]:
    """The cells of one attempt's CSV line (the columns of `domain.export`): for PostgreSQL's
    COPY, which quotes them; on SQLite, quoted already, to be joined into lines."""
    c = deployment_attempts.c
    labels = {int(s): s.label for s in DeploymentState}
    pg = conn.dialect.name == "postgresql"
    text = _nonempty if pg else _quoted

    def number(value: Any) -> ColumnElement[Any]:
        return value if pg else cast(value, String)

    duration: ColumnElement[Any] = cast(c.duration, String)
    if pg:  # float8 is written in its shortest exact form, as repr() does, but 30 for 30.0
        whole = and_(c.duration == func.trunc(c.duration), func.abs(c.duration) < 1e15)
        as_int = cast(cast(c.duration, BigInteger), String) + _s(".0")
        duration = case((whole, as_int), else_=duration)
    # SQLite writes a REAL as repr() does (30.0), with 15 significant digits: a duration
    # (seconds, to the microsecond) fits unless it is over 31 years long.
    # Both write a duration under 0.0001s in exponent notation (`6.4e-05`), as repr() does:
    # written to the microsecond instead (`0.000064`, as `domain.decimals.plain_number`).
    tiny = and_(func.abs(c.duration) < 1e-4, c.duration != 0)
    micro: ColumnElement[Any]
    if pg:
        micro = cast(cast(c.duration, Numeric), String)
    else:
        micro = func.rtrim(func.printf(_s("%.6f"), c.duration), _s("0"))
    duration = case((tiny, micro), else_=duration)
    return [
        text(c.tenant_id),
        text(c.workload_rt_id),
        _s("outcome"),
        number(c.attempt),
        _iso(conn, c.recorded_at),
        _iso(conn, c.reported_at),
        _flag(c.success),
        case(*((c.state == n, label) for n, label in labels.items()), else_=None),
        text(c.status_message),
        text(c.workload_name),
        text(c.pool_name),
        text(c.message_id),
        number(c.position),
        _flag(c.message_truncated),
        text(c.chart_name),
        text(c.chart_version),
        number(c.request_position),
        duration,
        text(c.helm_operation),
        number(c.exit_code),
        text(c.category),
        text(c.fingerprint),
        _s("false"),  # statusMessageEscaped: such rows are written again (see `_again`)
    ]


def audit_csv(engine: Engine, query: AuditFilter) -> Iterator[bytes]:
    """Every attempt matching `query`, newest first, as UTF-8 CSV in chunks, the header
    first: one statement, streamed."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(AUDIT_CSV_COLUMNS)
    yield out.getvalue().encode()
    with engine.connect() as conn:
        c = deployment_attempts.c
        where = queries.audit_where(conn, query)
        # The last cell: the position of an attempt whose exact message is kept as bytes
        # (its line is written again from the attempt), else empty.
        exact = case((c.status_message_exact.is_not(None), c.position), else_=None)
        cells = _cells(conn)
        if conn.dialect.name == "postgresql":
            stmt = select(*cells, exact).where(and_(True, *where))
            yield from _copied(engine, conn, stmt.order_by(c.position.desc()))
        else:
            stmt = select(_joined(cells), exact).where(and_(True, *where))
            yield from _written(engine, conn, stmt.order_by(c.position.desc()))


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


def _joined(cells: list[ColumnElement[Any]]) -> ColumnElement[str]:
    """SQLite: the cells as one CRLF-ended line (NULL: an empty cell)."""
    line: ColumnElement[Any] = func.coalesce(cells[0], "")
    for cell in cells[1:]:
        line = line + _s(",") + func.coalesce(cell, "")
    return line + _s("\r\n")


def _written(engine: Engine, conn: Connection, stmt: Select[Any]) -> Iterator[bytes]:
    """SQLite: the lines the query made, 5,000 a chunk."""
    # Text the query made: the driver's own tuples need no processing.
    cursor = conn.execute(stmt).cursor
    while rows := cursor.fetchmany(CSV_ROWS):
        if all(row[1] is None for row in rows):
            yield "".join([row[0] for row in rows]).encode()
        else:
            yield b"".join(
                row[0].encode() if row[1] is None else _again(engine, row[1]) for row in rows
            )


def _again(engine: Engine, position: int) -> bytes:
    """The CSV line of one attempt written from the attempt itself, with the message's NUL
    escape (read on another connection: the first one is streaming)."""
    c = deployment_attempts.c
    with engine.connect() as other:
        row = other.execute(select(deployment_attempts).where(c.position == position)).one()
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(csv_row(attempt_from_row(row._mapping)))
    return out.getvalue().encode()
