"""Translate driver and eventsourcing errors into deployledger errors, password scrubbed.

The cause decides the error, not the wrapper: eventsourcing and SQLAlchemy wrap the
driver's error (`__cause__`, `.orig`), and our recorders turn every psycopg error into an
`OperationalError`. So the innermost driver error is classified:

- PostgreSQL by SQLSTATE (`psycopg.Error.sqlstate`). A connection refused by the server
  before any query has none; the server's FATAL text is matched instead.
- SQLite by result code (`sqlite_errorcode`, primary code), then the file system says why
  a file cannot be opened or written.
- `OSError` by errno.

What a caller can do about it:
- `StoreUnavailable` (exit 3): a retry can succeed. Connection refused, reset or timed out;
  a lock wait timed out (55P03, SQLite busy/locked); the server is shutting down or
  starting (57P01-57P03); serialization failure (40001); deadlock (40P01); too many
  connections (53300); a read-only server (25006: a standby, or a primary that a failover
  demoted, so the next connection through the host list finds the new primary).
- `StoreMisconfigured` (exit 2): fix the store first. No such database (3D000), role or
  refused login (28000, 28P01), permission denied (42501), a read-only SQLite file, a
  missing directory, a file that is not a SQLite database.
- `SchemaMissing` (exit 2): a table, schema, function or column is missing (42P01, 3F000,
  42883, 42703, 42704; SQLite `no such table`).
- anything else: `DeployLedgerError` (exit 1), with the driver's first line.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg
from sqlalchemy import exc as sa_exc

from deployledger.domain.storeurl import StoreURL
from deployledger.errors import (
    DeployLedgerError,
    SchemaMissing,
    StoreMisconfigured,
    StoreUnavailable,
)
from deployledger.store.events import liberrors as es

Kind = Literal["retry", "fix", "schema", "other"]

MIGRATE = "run `deployledger migrate`"

RETRY_STATES = {
    "55P03": "lock_not_available",
    "57P01": "admin_shutdown",
    "57P02": "crash_shutdown",
    "57P03": "cannot_connect_now",
    "57P05": "idle_session_timeout",
    "57014": "query_canceled",
    "40001": "serialization_failure",
    "40P01": "deadlock_detected",
    "53300": "too_many_connections",
    "25006": "read_only_sql_transaction",
}
READ_ONLY_SQLSTATE = "25006"
FIX_STATES = {
    "3D000": "invalid_catalog_name",
    "28000": "invalid_authorization_specification",
    "28P01": "invalid_password",
    "42501": "insufficient_privilege",
}
SCHEMA_STATES = {
    "42P01": "undefined_table",
    "3F000": "invalid_schema_name",
    "42883": "undefined_function",
    "42703": "undefined_column",
    "42704": "undefined_object",
}

# The server's FATAL text, for connections refused before any query (no SQLSTATE then).
_FATAL: list[tuple[re.Pattern[str], Kind, str]] = [
    (re.compile(r'database "[^"]*" does not exist'), "fix", f": create it, then {MIGRATE}"),
    (re.compile(r'role "[^"]*" does not exist'), "fix", ""),
    (re.compile(r'password authentication failed for user "[^"]*"'), "fix", ""),
    (re.compile(r"no pg_hba\.conf entry for [^\n]*"), "fix", ""),
    (re.compile(r'permission denied for database "?[^"\s]*"?'), "fix", ""),
    (
        re.compile(r"too many (connections|clients)[^\n]*|remaining connection slots[^\n]*"),
        "retry",
        "",
    ),
    (re.compile(r"the database system is [a-z ]+"), "retry", ""),
]

_SQLITE_RETRY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_SQLITE_FIX = {
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_AUTH,
    sqlite3.SQLITE_NOTADB,
    sqlite3.SQLITE_CORRUPT,
}
_OS_FIX = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS}

_DRIVER_ERRORS = (
    es.PersistenceError,
    psycopg.Error,
    sqlite3.Error,
    sa_exc.SQLAlchemyError,
    OSError,
)


@dataclass(frozen=True)
class Verdict:
    """What a caller can do about an error (`kind`), and its cause in a few words."""

    kind: Kind
    cause: str


def driver_error(error: BaseException) -> BaseException:
    """The innermost driver error under eventsourcing's and SQLAlchemy's wrappers."""
    seen: set[int] = set()
    while id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, psycopg.Error | sqlite3.Error):
            return error
        inner = getattr(error, "orig", None) if isinstance(error, sa_exc.DBAPIError) else None
        inner = inner or error.__cause__
        if inner is None:
            return error
        error = inner
    return error


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def classify(error: BaseException, url: StoreURL) -> Verdict:
    """The verdict on a driver error (or a wrapper of one) met while using `url`."""
    if isinstance(error, sa_exc.TimeoutError):
        return Verdict("retry", "connection pool timeout")
    inner = driver_error(error)
    text = first_line(inner)
    if isinstance(inner, psycopg.Error):
        return _postgres(inner, text)
    if isinstance(inner, sqlite3.Error):
        return _sqlite(inner, text, url)
    if isinstance(inner, TimeoutError | ConnectionError | es.ConnectionUnavailableError):
        return Verdict("retry", text)
    if isinstance(inner, OSError) and inner.errno in _OS_FIX:
        return Verdict("fix", text)
    if isinstance(inner, es.OperationalError | es.InterfaceError):
        return Verdict("retry", text)  # raised by the library itself, about its connections
    return Verdict("other", text)


def _postgres(error: psycopg.Error, text: str) -> Verdict:
    state = error.sqlstate
    if state is None:
        full = str(error)
        for pattern, kind, advice in _FATAL:
            found = pattern.search(full)
            if found:
                return Verdict(kind, found.group(0).strip() + advice)
        if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
            return Verdict("retry", text)  # refused, reset, timed out, closed
        return Verdict("other", text)
    if state == READ_ONLY_SQLSTATE:  # a standby, or a primary demoted by a failover
        return Verdict(
            "retry",
            f"the server is read-only, a standby ({text}); during a failover, retry; "
            "with several hosts, give target_session_attrs=read-write",
        )
    if state in RETRY_STATES or state.startswith("08"):  # class 08: connection exception
        return Verdict("retry", text)
    if state == "3D000":
        return Verdict("fix", f"{text}: create it, then {MIGRATE}")
    if state in FIX_STATES:
        return Verdict("fix", text)
    if state in SCHEMA_STATES:
        return Verdict("schema", text)
    return Verdict("other", text)


def _sqlite(error: sqlite3.Error, text: str, url: StoreURL) -> Verdict:
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in _SQLITE_RETRY or text == "database is locked":
        return Verdict("retry", text)
    if primary in _SQLITE_FIX:
        return Verdict("fix", _sqlite_cause(primary, text, url))
    if text.startswith(("no such table", "no such column", "no such function")):
        return Verdict("schema", text)
    return Verdict("other", text)


def _sqlite_cause(primary: int | None, text: str, url: StoreURL) -> str:
    """Why SQLite cannot open or write the store's file, from the file system."""
    if url.memory:
        return text
    path = Path(url.path).absolute()
    folder = path.parent
    if primary == sqlite3.SQLITE_NOTADB:
        return f"file {path} is not a SQLite database"
    if primary == sqlite3.SQLITE_CORRUPT:
        return f"file {path} is corrupt ({text})"
    if not folder.exists():
        return f"directory {folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is not a directory"
    if path.is_dir():
        return f"{path} is a directory, not a database file"
    if path.exists() and not os.access(path, os.R_OK):
        return f"file {path} is not readable"
    if path.exists() and not os.access(path, os.W_OK):
        return f"file {path} is read-only ({text})"
    if not os.access(folder, os.W_OK | os.X_OK):
        if not path.exists():
            return f"directory {folder} is not writable: the store file cannot be created"
        return (
            f"directory {folder} is not writable: SQLite must create {path.name}-wal and "
            f"{path.name}-shm beside the store, even to read it"
        )
    return f"file {path}: {text}"


def translate(
    url: StoreURL, error: BaseException, *, what: str = "store", purpose: str = ""
) -> DeployLedgerError:
    """The deployledger error for a driver error, with the password removed.

    `what` names the database in the message ("store", or "read model" for a separate
    one); `purpose` says what the failed work was for, when a permanent error needs it.
    """
    verdict = classify(error, url)
    cause = url.scrub(verdict.cause)
    where = f"{what} {url.redacted()}"
    why = f"; {purpose}" if purpose else ""
    if verdict.kind == "retry":
        return StoreUnavailable(f"{where} is unavailable: {cause}")
    if verdict.kind == "fix":
        return StoreMisconfigured(f"{where}: {cause}{why}")
    if verdict.kind == "schema":
        return SchemaMissing(
            f"{where} has no deployledger schema, or an incomplete one ({cause}); {MIGRATE}"
        )
    return DeployLedgerError(f"{where} failed: {cause}")


@contextmanager
def translated(url: StoreURL, *, what: str = "store", purpose: str = "") -> Iterator[None]:
    """Let version conflicts (`eventsourcing` IntegrityError) through; translate the rest."""
    try:
        yield
    except es.IntegrityError:
        raise
    except DeployLedgerError:
        raise
    except _DRIVER_ERRORS as e:
        raise translate(url, e, what=what, purpose=purpose) from None
