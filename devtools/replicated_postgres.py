"""A private primary with one streaming standby, for failover and read-replica tests.

    with ReplicatedPair.start(synchronous=True) as pair:
        url = pair.create_database("ledger")   # multi-host, target_session_attrs=read-write
        pair.kill_primary()                    # SIGKILL the primary's postmaster
        pair.promote()                         # pg_ctl promote the standby
        pair.standby.url("ledger")             # the new primary

The primary is a `PrivateCluster` (devtools/private_postgres.py) with `wal_level=replica`; the
standby is made by `pg_basebackup -R` from it, on a port of its own, streaming as
application `standby1`. With `synchronous=True` the primary waits for the standby's flush
before a commit returns (`synchronous_standby_names = 'standby1'`, `synchronous_commit =
on`): a commit acknowledged to a client is on both servers. With `synchronous=False` the
standby is asynchronous, and a failover can lose the last acknowledged commits.

`pause_replay()` / `resume_replay()` hold the standby's replay back (`pg_wal_replay_pause`),
so a test can see a standby that lags. The shared server at 127.0.0.1:5432 is never touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from devtools.private_postgres import SETTINGS, PrivateCluster, free_port

STANDBY_NAME = "standby1"
REPLICATION = {
    "wal_level": "replica",
    "max_wal_senders": "5",
    "wal_keep_size": "256MB",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "wal_sender_timeout": "5s",
    "wal_receiver_status_interval": "1s",
}


class _Member(PrivateCluster):
    """A cluster whose server options carry the replication settings (and, on the primary,
    the synchronous standby's name)."""

    extra: dict[str, str] = {}  # noqa: RUF012 (set per instance before a restart)

    def _options(self) -> str:
        settings = {**SETTINGS, **REPLICATION, **self.extra}
        options = " ".join(f"-c {k}={v}" for k, v in settings.items())
        return f"-p {self.port} -k {self.sockets} {options}"


class ReplicatedPair:
    """A primary and one standby streaming from it; `close()` stops and removes both."""

    def __init__(self, primary: _Member, standby: _Member, synchronous: bool) -> None:
        self.primary = primary
        self.standby = standby
        self.synchronous = synchronous

    @classmethod
    def start(cls, *, synchronous: bool = True) -> ReplicatedPair:
        primary = _start_member(
            {"synchronous_standby_names": f"'{STANDBY_NAME}'"} if synchronous else {}
        )
        try:
            standby = _standby_of(primary)
        except BaseException:
            primary.close()
            raise
        pair = cls(primary, standby, synchronous)
        pair.wait_streaming()
        return pair

    # -- URLs ------------------------------------------------------------------------

    def url(self, dbname: str, *, target: str = "read-write") -> str:
        """A multi-host store URL: the primary first, then the standby."""
        hosts = f"127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
        return f"postgresql://postgres@{hosts}/{dbname}?target_session_attrs={target}"

    def create_database(self, name: str = "ledger") -> str:
        """Create `name` on the primary (it replicates); return the multi-host URL."""
        with psycopg.connect(self.primary.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.wait_caught_up()
        return self.url(name)

    # -- replication -----------------------------------------------------------------

    def wait_streaming(self, timeout: float = 60) -> None:
        """Until the primary sees the standby streaming (and, if synchronous, as `sync`)."""
        wanted = "sync" if self.synchronous else "async"
        deadline = time.monotonic() + timeout
        while True:
            with psycopg.connect(self.primary.url("postgres"), autocommit=True) as conn:
                row = conn.execute(
                    "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = %s",
                    (STANDBY_NAME,),
                ).fetchone()
            if row is not None and row[0] == "streaming" and row[1] == wanted:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the standby is not streaming ({row}):\n{self.standby.log_tail()}"
                )
            time.sleep(0.1)

    def wait_caught_up(self, timeout: float = 60) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        with psycopg.connect(self.primary.url("postgres"), autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        target = row[0]
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.standby.url("postgres"), autocommit=True) as conn:
            while True:
                done = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)
                ).fetchone()
                if done is not None and done[0]:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the standby did not replay up to {target}")
                time.sleep(0.05)

    def pause_replay(self) -> None:
        with psycopg.connect(self.standby.url("postgres"), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        with psycopg.connect(self.standby.url("postgres"), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def cut_stream(self, timeout: float = 60) -> None:
        """Stop the standby receiving WAL (as a partition or a stalled link would): its
        `primary_conninfo` is emptied and reloaded. It keeps what it has replayed."""
        with psycopg.connect(self.standby.url("postgres"), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET primary_conninfo = ''")
            conn.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + timeout
        while True:
            with psycopg.connect(self.primary.url("postgres"), autocommit=True) as conn:
                row = conn.execute("SELECT count(*) FROM pg_stat_replication").fetchone()
            if row is not None and row[0] == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the standby still streams after its conninfo was emptied")
            time.sleep(0.05)

    # -- failover --------------------------------------------------------------------

    def kill_primary(self) -> float:
        """SIGKILL the primary's postmaster (a lost server): its backends notice and exit.
        Returns the monotonic time of the kill."""
        pid = int((self.primary.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        _wait_gone(pid)
        return killed

    def promote(self, timeout: float = 60) -> float:
        """`pg_ctl promote` the standby and wait until it accepts writes; returns the
        seconds it took."""
        began = time.monotonic()
        self.standby._run("pg_ctl", "-D", str(self.standby.data), "-w", "-t", "60", "promote")
        deadline = time.monotonic() + timeout
        while True:
            with psycopg.connect(self.standby.url("postgres"), autocommit=True) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is not None and not row[0]:
                return time.monotonic() - began
            if time.monotonic() > deadline:
                raise RuntimeError("the promoted standby still is in recovery")
            time.sleep(0.05)

    def close(self) -> None:
        try:
            self.standby.close()
        finally:
            self.primary.close()

    def __enter__(self) -> ReplicatedPair:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _start_member(extra: dict[str, str]) -> _Member:
    """initdb and start a primary with the replication settings."""
    _Member.extra = {}
    cluster = _Member.start()
    assert isinstance(cluster, _Member)
    cluster.extra = extra
    with (cluster.data / "pg_hba.conf").open("a") as hba:
        hba.write("host replication all 127.0.0.1/32 trust\n")
    cluster.restart()
    return cluster


def _standby_of(primary: _Member) -> _Member:
    """`pg_basebackup -R` of the primary into a new folder, started as a standby."""
    folder = Path(primary.folder.parent) / (primary.folder.name + "-standby")
    folder.mkdir(mode=0o700)
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    standby = _Member(folder, free_port())
    standby.extra = {}
    primary._run(
        "pg_basebackup",
        "-h",
        "127.0.0.1",
        "-p",
        str(primary.port),
        "-U",
        "postgres",
        "-D",
        str(standby.data),
        "-R",
        "-X",
        "stream",
        "--no-sync",
        "-d",
        f"application_name={STANDBY_NAME}",
    )
    try:
        standby.start_again()
    except BaseException:
        standby.close()
        raise
    return standby


def _wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # A zombie until its parent (pg_ctl's daemonised start: init) reaps it.
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.02)
    subprocess.run(["ps", "-p", str(pid)], check=False)
    raise RuntimeError(f"postmaster {pid} is still alive after SIGKILL")
