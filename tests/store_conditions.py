"""Store conditions made real, for the table of tests/store_failures.py.

- `Situation`: one failure set up, and what must come of it; `Where` gives a case its
  directory and PostgreSQL databases; `case()` registers a set-up in `CASES`.
- `role()`: a login role of its own; `read_only()`: files or directories no one can write,
  not even root (`chattr +i` then, since root writes through `chmod`), restored afterwards.
- `FakePostgres`: a server that answers every connection with one FATAL error and its
  SQLSTATE, as PostgreSQL does before a session starts, for conditions the test server
  cannot be put in (it trusts every login, and it is never starting up); or never answers.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import struct
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from support import DatabaseDropper, create_database, drop_database, migrated_sqlite, report

from deployledger import DeployLedgerError, Ledger

PASSWORD = "s3cret" + "pw"  # built, so that no traceback source line shows it whole


@dataclass
class Situation:
    """One failure, set up: run `op` on `url` (and `read_model`), expect `error` (None: it
    works) with exit code `code`, and a message holding every fragment of `says`."""

    url: str
    op: str  # migrate, record, status, show, history, audit
    error: type[DeployLedgerError] | None
    code: int
    says: tuple[str, ...] = ()
    read_model: str | None = None
    never_says: tuple[str, ...] = field(default=(PASSWORD,))


class Where:
    """What a case may use: a directory of its own and, on PostgreSQL, the admin DSN.

    Given them (the fixtures `postgres_template` and `dropper`, asked for when first
    needed), a migrated database is a copy of the template, and databases are dropped a
    batch at a time."""

    def __init__(
        self,
        tmp_path: Path,
        admin_dsn: Callable[[], str],
        *,
        template: Callable[[], str] | None = None,
        dropper: Callable[[], DatabaseDropper] | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self._admin_dsn = admin_dsn
        self._template = template
        self._dropper = dropper

    @property
    def admin_dsn(self) -> str:
        return self._admin_dsn()

    @contextmanager
    def database(self, *, migrated: bool = True, records: int = 0) -> Iterator[str]:
        """A new PostgreSQL database (with the schema, and `records` reports), dropped after."""
        if migrated and self._template is not None:
            url = create_database(self.admin_dsn, prefix="dl_errors", template=self._template())
        else:
            url = create_database(self.admin_dsn, prefix="dl_errors")
        try:
            fill(url, migrated=migrated, records=records)
            yield url
        finally:
            if self._dropper is not None:
                self._dropper().drop(url)
            else:
                drop_database(self.admin_dsn, url)

    def sqlite(self, name: str = "ledger.db", *, migrated: bool = True, records: int = 0) -> str:
        path = self.tmp_path / "store" / name
        (self.tmp_path / "store").mkdir(exist_ok=True)
        url = migrated_sqlite(path) if migrated else f"sqlite:///{path}"
        fill(url, migrated=migrated, records=records)
        return url


def fill(url: str, *, migrated: bool, records: int) -> None:
    if migrated:
        with Ledger.open(url, create=True) as ledger:  # quick on a copy of a migrated store
            for n in range(records):
                ledger.record(report(messageId=f"m-{n}"))


Setup = Callable[[Where], Iterator[Situation]]


@dataclass(frozen=True)
class Case:
    """One failure of the table: `with case.setup(where) as situation: ...`."""

    name: str
    backend: str
    setup: Callable[[Where], AbstractContextManager[Situation]]


CASES: list[Case] = []


def case(name: str, backend: str) -> Callable[[Setup], Setup]:
    def register(setup: Setup) -> Setup:
        CASES.append(Case(name, backend, contextmanager(setup)))
        return setup

    return register


def with_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    userinfo, hostpart = rest.split("@", 1)
    return f"{scheme}://{userinfo.split(':', 1)[0]}:{PASSWORD}@{hostpart}"


# ---------------------------------------------------------------------------------------
# Helpers that make a condition real


@contextmanager
def role(url: str, admin_dsn: str, options: str = "") -> Iterator[str]:
    """A new login role (unique name), dropped afterwards with its grants in `url`'s database."""
    name = f"dl_errors_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL(f"CREATE ROLE {{}} LOGIN {options}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def as_role(url: str, name: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{name}@{rest.split('@', 1)[1]}"


@contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make files or directories read-only, even for root; restore them afterwards."""
    as_root = os.geteuid() == 0
    done: list[Path] = []
    try:
        for path in paths:
            if as_root:
                subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
            else:
                path.chmod(path.stat().st_mode & ~0o222)
            done.append(path)
            assert not os.access(path, os.W_OK), f"{path} is still writable"
        yield
    finally:
        for path in reversed(done):
            if as_root:
                subprocess.run(["chattr", "-i", str(path)], check=True, capture_output=True)
            else:
                path.chmod(path.stat().st_mode | 0o200)


def checkpoint(url: str) -> None:
    """Fold the WAL into the database file and remove the -wal and -shm files."""
    path = url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA journal_mode=WAL")


class FakePostgres:
    """A server that answers every connection with one FATAL error, as PostgreSQL does
    before a session starts (or, with `sqlstate=None`, never answers at all)."""

    def __init__(self, sqlstate: str | None, message: str = "") -> None:
        self.sqlstate, self.message = sqlstate, message
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakePostgres:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.sock.close()
        for conn in self._held:
            conn.close()
        self._thread.join(timeout=5)

    def url(self, user: str = "app", dbname: str = "ledger") -> str:
        return f"postgresql://{user}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            if self.sqlstate is None:
                self._held.append(conn)  # accepted, never answered: the client times out
                continue
            with conn:
                self._refuse(conn)

    def _refuse(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            while True:
                length, code = struct.unpack("!ii", _read(conn, 8))
                if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: not here
                    conn.sendall(b"N")
                    continue
                _read(conn, length - 8)  # the startup packet
                break
            fields = b"".join(
                kind + value.encode() + b"\0"
                for kind, value in (
                    (b"S", "FATAL"),
                    (b"V", "FATAL"),
                    (b"C", self.sqlstate or ""),
                    (b"M", self.message),
                )
            )
            body = fields + b"\0"
            conn.sendall(b"E" + struct.pack("!i", len(body) + 4) + body)
        except OSError:
            pass


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data
