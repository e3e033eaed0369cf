"""A private PostgreSQL cluster for one test: `initdb` into a temporary directory, its own port
and socket directory, trust authentication. Tests may stop, restart or crash it; the shared
server at 127.0.0.1:5432 is never touched.

    with PrivateCluster.start() as cluster:
        url = cluster.create_database("ledger")
        cluster.restart()                   # pg_ctl restart -m fast
        cluster.stop(mode="immediate")      # a crash: committed work survives through the WAL
        cluster.start_again()

The server binaries come from `pg_config --bindir`, else the newest
/usr/lib/postgresql/*/bin, else PATH. PostgreSQL refuses to run as root: as root, every
server command runs as the `postgres` user (`runuser -u postgres --`), in a directory that
user owns. `unavailable()` says why a cluster cannot be made here (None if it can).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from psycopg import sql

SERVER_USER = "postgres"
# Small and fast to start; fsync stays on (the default), so a crash loses nothing committed.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
    "logging_collector": "off",
}


def bindir() -> Path | None:
    """The directory holding initdb and pg_ctl, or None."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=30
        )
        if done.returncode == 0 and done.stdout.strip():
            candidates.append(Path(done.stdout.strip()))

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    candidates += [Path(p) for p in versions]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _as_root() -> bool:
    return os.geteuid() == 0


def as_server(argv: list[str]) -> list[str]:
    """`argv` run as `SERVER_USER` when we are root (PostgreSQL refuses to run as root)."""
    return ["runuser", "-u", SERVER_USER, "--", *argv] if _as_root() else argv


def run_as_server(
    argv: list[str],
    *,
    what: str,
    cwd: Path,
    timeout: float = 120,
    after: Callable[[], str] | None = None,
) -> str:
    """Run a server tool to completion, as the server's user (`as_server`); its stdout. A
    failure raises naming it `what`, with the command's output and what `after()` adds
    (say, the server log's tail)."""
    argv = as_server(argv)
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        more = after() if after is not None else ""
        raise RuntimeError(f"{what} exited {done.returncode}:\n{done.stdout}{done.stderr}{more}")
    return done.stdout


def unavailable() -> str | None:
    """Why a private cluster cannot be started on this machine, or None if it can."""
    if bindir() is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl) found"
    if _as_root():
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root, and there is no {SERVER_USER!r} user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root, and runuser is missing"
    return None


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateCluster:
    """One PostgreSQL cluster in a temporary directory; `close()` stops it and removes it."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.sockets = folder  # the Unix socket directory (short path: sockets have a limit)
        self.log = folder / "server.log"
        self.port = port
        self.bin = bindir()
        assert self.bin is not None, unavailable()

    # -- life cycle ---------------------------------------------------------------------

    @classmethod
    def start(cls, attempts: int = 3) -> PrivateCluster:
        """initdb a new cluster and start it on a free port (another one if it is taken)."""
        reason = unavailable()
        if reason is not None:
            raise RuntimeError(f"cannot start a private PostgreSQL cluster: {reason}")
        folder = Path(tempfile.mkdtemp(prefix="dlpg-"))
        if _as_root():
            user = pwd.getpwnam(SERVER_USER)
            os.chown(folder, user.pw_uid, user.pw_gid)
        os.chmod(folder, 0o700)
        cluster = cls(folder, free_port())
        try:
            cluster._run(
                "initdb",
                "-D",
                str(cluster.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            )
            for attempt in range(attempts):
                try:
                    cluster.start_again()
                    break
                except RuntimeError:
                    if attempt == attempts - 1:
                        raise
                    cluster.port = free_port()  # raced for the port: take another
        except BaseException:
            cluster.close()
            raise
        return cluster

    def _options(self) -> str:
        settings = " ".join(f"-c {k}={v}" for k, v in SETTINGS.items())
        return f"-p {self.port} -k {self.sockets} {settings}"

    def _run(self, tool: str, *args: str, timeout: float = 120) -> str:
        assert self.bin is not None
        return run_as_server(
            [str(self.bin / tool), *args],
            what=f"{tool} {' '.join(args)}",
            cwd=self.folder,
            timeout=timeout,
            after=lambda: f"\n--- server log (tail)\n{self.log_tail()}",
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def start_again(self) -> None:
        """`pg_ctl start`, waiting until the server accepts connections."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            self._options(),
            "-w",
            "-t",
            "60",
            "start",
        )
        self.wait_ready()

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m MODE` (smart, fast, or immediate: a crash, recovered on start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> float:
        """`pg_ctl restart -m MODE`; returns the seconds it took, until connections work."""
        began = time.monotonic()
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-m",
            mode,
            "-o",
            self._options(),
            "-w",
            "-t",
            "60",
            "restart",
        )
        self.wait_ready()
        return time.monotonic() - began

    def running(self) -> bool:
        assert self.bin is not None
        argv = as_server([str(self.bin / "pg_ctl"), "-D", str(self.data), "status"])
        done = subprocess.run(argv, capture_output=True, check=False, timeout=30)
        return done.returncode == 0

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        """Stop the server (immediately) if it runs, and remove its directory."""
        try:
            if self.data.exists() and self.running():
                self.stop(mode="immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PrivateCluster:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- databases ----------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """A URL for deployledger and psycopg, over TCP on 127.0.0.1."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str = "ledger") -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def backends(self, dbname: str) -> int:
        """Client connections open to `dbname` (this query's own not counted)."""
        with psycopg.connect(self.url("postgres")) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (dbname,)
            ).fetchone()
        return int(row[0]) if row else 0


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started private cluster, stopped and removed on exit."""
    cluster = PrivateCluster.start()
    try:
        yield cluster
    finally:
        cluster.close()
