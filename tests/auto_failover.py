"""A private pg_auto_failover formation for failover tests: a monitor and two data nodes on
127.0.0.1, each `pg_autoctl` supervised as a background process, in a temporary directory.

    with Formation.start() as formation:       # waits until primary + secondary
        url = formation.url("ledger")          # multi-host, target_session_attrs=read-write
        old = formation.primary()
        killed = formation.kill(old)           # SIGKILL its pg_autoctl and its postmaster
        new, promoted = formation.wait_promoted(old)   # the monitor promotes the other node

Nobody calls `pg_ctl promote`: the monitor sees the primary unhealthy and drives the
secondary through prepare_promotion, stop_replication and wait_primary. The nodes run with
pg_auto_failover's default for two nodes: the secondary is in the replication quorum, so the
primary runs with `synchronous_standby_names = 'ANY 1 (pgautofailover_standby_N)'` and a
commit acknowledged to a client is on both nodes (`show_settings()` shows it).

Trust authentication, no SSL (`--no-ssl`), the `ledger` database made by pg_autoctl
(`--dbname`). As root, every command runs as the `postgres` user (runuser), in a directory
that user owns; pg_autoctl's own files (XDG config, data and runtime folders) are kept in it
too. `close()` stops every process and removes the directory.

Failover timing. pg_auto_failover's defaults take about 30 s to fail over a lost primary
(a node is unhealthy 20 s after its last report, then the monitor waits 30 s for the old
primary to demote). For a test these are set down, in the monitor's postgresql.auto.conf
(MONITOR_SETTINGS) and each node's `pg_autoctl config set` (NODE_SETTINGS):

- `pgautofailover.health_check_period` 1000 ms (default 5000): how often the monitor probes
  every node; `health_check_timeout` 1000 ms (5000); `health_check_max_retries` 1 (2);
  `health_check_retry_delay` 500 ms (2000).
- `pgautofailover.node_considered_unhealthy_timeout` 3000 ms (20000): a node whose keeper
  has not reported for this long, and whose health check fails, is unhealthy.
- `pgautofailover.primary_demote_timeout` 5000 ms (30000): how long the monitor waits for
  an unreachable primary to demote itself before the standby takes writes.
- node `timeout.network_partition_timeout` 3 s (20): a primary that reaches neither the
  monitor nor its standby demotes itself after this. It must stay below
  primary_demote_timeout, or an isolated old primary could still take writes when the new
  one does (split brain).

With them a lost primary is replaced in about 8 s. The shared server at 127.0.0.1:5432 is
never touched.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from devtools.private_postgres import SERVER_USER, as_server, bindir, free_port, run_as_server
from devtools.private_postgres import unavailable as postgres_unavailable

MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": "1000",
    "pgautofailover.health_check_timeout": "1000",
    "pgautofailover.health_check_max_retries": "1",
    "pgautofailover.health_check_retry_delay": "500",
    "pgautofailover.node_considered_unhealthy_timeout": "3000",
    "pgautofailover.primary_demote_timeout": "5000",
}
NODE_SETTINGS = {"timeout.network_partition_timeout": "3"}
PROMOTED = ("wait_primary", "primary")


def pg_autoctl() -> str | None:
    """The pg_autoctl command (Debian's pg-auto-failover-cli puts it in /usr/bin)."""
    found = shutil.which("pg_autoctl")
    if found:
        return found
    folder = bindir()
    if folder is not None and (folder / "pg_autoctl").is_file():
        return str(folder / "pg_autoctl")
    return None


def unavailable() -> str | None:
    """Why a formation cannot be started here (None if it can)."""
    reason = postgres_unavailable()
    if reason is not None:
        return reason
    if pg_autoctl() is None:
        return "pg_autoctl is not installed (Debian: pg-auto-failover-cli)"
    folder = bindir()
    assert folder is not None
    if (folder / "pg_config").is_file():
        done = subprocess.run(
            [str(folder / "pg_config"), "--pkglibdir"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        library = Path(done.stdout.strip())
        if done.returncode == 0 and not (library / "pgautofailover.so").is_file():
            return f"no pgautofailover.so in {library} (Debian: postgresql-NN-auto-failover)"
    return None


@dataclass
class Node:
    name: str
    port: int
    pgdata: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def postmaster(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


class Formation:
    """A monitor and two data nodes; `close()` stops them all and removes their folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.bin = bindir()
        assert self.bin is not None
        command = pg_autoctl()
        assert command is not None
        self.command = command
        self.monitor = Node("monitor", free_port(), folder / "monitor", folder / "monitor.log")
        self.nodes = [
            Node(name, free_port(), folder / name, folder / f"{name}.log")
            for name in ("node1", "node2")
        ]

    # -- life cycle ------------------------------------------------------------------

    @classmethod
    def start(cls, timeout: float = 180) -> Formation:
        reason = unavailable()
        if reason is not None:
            raise RuntimeError(f"cannot start a pg_auto_failover formation: {reason}")
        folder = Path(tempfile.mkdtemp(prefix="dlaf-"))
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(folder, user.pw_uid, user.pw_gid)
        os.chmod(folder, 0o700)
        formation = cls(folder)
        try:
            formation._start_monitor(timeout)
            first, second = formation.nodes
            formation._start_node(first)
            formation.wait_states({first.name: ("single",)}, timeout)
            formation._start_node(second)
            formation.wait_states(
                {first.name: ("primary",), second.name: ("secondary",)}, timeout, checkpoint=first
            )
        except BaseException:
            formation.close()
            raise
        return formation

    def _argv(self, *args: str) -> list[str]:
        env = [
            f"XDG_CONFIG_HOME={self.folder / 'config'}",
            f"XDG_DATA_HOME={self.folder / 'share'}",
            f"XDG_RUNTIME_DIR={self.folder / 'run'}",
            f"PATH={self.bin}:/usr/bin:/bin",
        ]
        return ["env", *env, self.command, *args]

    def run(self, *args: str, timeout: float = 120) -> str:
        """One pg_autoctl command, to completion; its output."""
        return run_as_server(
            self._argv(*args), what=f"pg_autoctl {' '.join(args)}", cwd=self.folder, timeout=timeout
        )

    def _spawn(self, node: Node, *args: str) -> None:
        """A pg_autoctl service in the background, in a process group of its own (so that
        it, its sub-processes and its postmaster can be killed together)."""
        with node.log.open("ab") as log:
            node.process = subprocess.Popen(
                as_server(self._argv(*args)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.folder,
                start_new_session=True,
            )

    def _start_monitor(self, timeout: float) -> None:
        assert self.bin is not None
        monitor = self.monitor
        self.run(
            "create",
            "monitor",
            "--pgdata",
            str(monitor.pgdata),
            "--pgport",
            str(monitor.port),
            "--pgctl",
            str(self.bin / "pg_ctl"),
            "--hostname",
            "127.0.0.1",
            "--auth",
            "trust",
            "--no-ssl",
            timeout=timeout,
        )
        # postgresql.auto.conf is read last: these win over pg_autoctl's own settings.
        with (monitor.pgdata / "postgresql.auto.conf").open("a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in MONITOR_SETTINGS.items())
        # pg_autoctl starts the monitor's server with `-h *` unless told otherwise.
        self.run(
            "config",
            "set",
            "--pgdata",
            str(monitor.pgdata),
            "postgresql.listen_addresses",
            "127.0.0.1",
        )
        self._spawn(monitor, "run", "--pgdata", str(monitor.pgdata))
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.states()
                return
            except psycopg.Error as error:
                self._check_alive(monitor)
                if time.monotonic() > deadline:
                    tail = self.log_tail(monitor)
                    raise RuntimeError(f"the monitor did not start:\n{tail}") from error
                time.sleep(0.2)

    def _start_node(self, node: Node) -> None:
        assert self.bin is not None
        self._spawn(
            node,
            "create",
            "postgres",
            "--pgdata",
            str(node.pgdata),
            "--pgport",
            str(node.port),
            "--pgctl",
            str(self.bin / "pg_ctl"),
            "--hostname",
            "127.0.0.1",
            "--listen",
            "127.0.0.1",
            "--name",
            node.name,
            "--dbname",
            "ledger",
            "--auth",
            "trust",
            "--no-ssl",
            "--monitor",
            self.monitor_uri(),
            "--run",
        )

    def monitor_uri(self) -> str:
        return (
            f"postgres://autoctl_node@127.0.0.1:{self.monitor.port}/pg_auto_failover"
            "?sslmode=disable"
        )

    def _configure(self, node: Node) -> None:
        for key, value in NODE_SETTINGS.items():
            self.run("config", "set", "--pgdata", str(node.pgdata), key, value)

    def close(self) -> None:
        """Stop every service (SIGTERM, then SIGKILL), and remove the folder."""
        try:
            services = [n for n in (*self.nodes, self.monitor) if n.process is not None]
            for node in services:
                _signal_group(node, signal.SIGTERM)
            deadline = time.monotonic() + 15
            for node in services:
                assert node.process is not None
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.process.wait(max(0.1, deadline - time.monotonic()))
            for node in services:
                _signal_group(node, signal.SIGKILL)
                assert node.process is not None
                node.process.wait(10)
            for node in (*self.nodes, self.monitor):
                pid = node.postmaster()
                if pid is not None and _alive(pid):
                    os.kill(pid, signal.SIGKILL)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Formation:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- state -----------------------------------------------------------------------

    def states(self) -> dict[str, tuple[str, str]]:
        """{node name: (reported state, assigned state)}, as the monitor has them."""
        with psycopg.connect(
            self.monitor.url("pg_auto_failover"), autocommit=True, connect_timeout=5
        ) as conn:
            rows = conn.execute(
                "SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node"
            ).fetchall()
        return {str(name): (str(reported), str(goal)) for name, reported, goal in rows}

    def wait_states(
        self,
        wanted: dict[str, tuple[str, ...]],
        timeout: float = 180,
        *,
        checkpoint: Node | None = None,
    ) -> dict[str, tuple[str, str]]:
        """Until every named node has reported (and is assigned) one of its wanted states.
        With `checkpoint`, a CHECKPOINT is run there every 2 s meanwhile: pg_autoctl's
        pg_basebackup of a new standby waits for a checkpoint, which is otherwise spread
        over minutes."""
        deadline = time.monotonic() + timeout
        last_checkpoint = 0.0
        while True:
            states = self.states()
            if all(
                name in states and states[name][0] in ok and states[name][1] in ok
                for name, ok in wanted.items()
            ):
                return states
            for node in self.nodes:
                if node.process is not None and node.name in wanted:
                    self._check_alive(node)
            if checkpoint is not None and time.monotonic() - last_checkpoint > 2:
                last_checkpoint = time.monotonic()
                try:
                    with psycopg.connect(checkpoint.url(), autocommit=True) as conn:
                        conn.execute("CHECKPOINT")
                except psycopg.Error:
                    pass
            if time.monotonic() > deadline:
                tails = "\n".join(self.log_tail(n) for n in self.nodes)
                raise RuntimeError(f"waited {timeout}s for {wanted}; states {states}\n{tails}")
            time.sleep(0.2)

    def _check_alive(self, node: Node) -> None:
        if node.process is not None and node.process.poll() is not None:
            raise RuntimeError(
                f"pg_autoctl of {node.name} exited {node.process.returncode}:\n"
                f"{self.log_tail(node)}"
            )

    def show(self, what: str) -> str:
        """`pg_autoctl show state|settings|events|uri` against the monitor."""
        args = ["show", what, "--pgdata", str(self.monitor.pgdata)]
        if what == "uri":
            args += ["--formation", "default"]
        return self.run(*args)

    def diagnose(self) -> str:
        """What the monitor and the nodes say (for a failed test): states, the last events,
        each data node's connections and replication, and the logs' tails."""
        parts: list[str] = []
        for what in ("state", "events"):
            try:
                parts.append(self.show(what))
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                parts.append(f"show {what}: {error}")
        for node in self.nodes:
            try:
                with psycopg.connect(node.url(), autocommit=True, connect_timeout=3) as conn:
                    rows = conn.execute(
                        "SELECT current_setting('max_connections'), "
                        "(SELECT count(*) FROM pg_stat_activity), "
                        "(SELECT string_agg(application_name || ' ' || state || ' ' || "
                        "sync_state, ', ') FROM pg_stat_replication), "
                        "current_setting('synchronous_standby_names'), pg_is_in_recovery()"
                    ).fetchone()
                parts.append(
                    f"{node.name}: max_connections, backends, replication, sync "
                    f"names, in recovery = {rows}"
                )
            except psycopg.Error as error:
                parts.append(f"{node.name}: {error}")
        parts += [self.log_tail(n, 40) for n in (*self.nodes, self.monitor)]
        return "\n".join(parts)

    def log_tail(self, node: Node, lines: int = 25) -> str:
        try:
            text = node.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"--- {node.name}: (no log)"
        return f"--- {node.name} (log tail)\n" + "\n".join(text)

    def primary(self) -> Node:
        states = self.states()
        for node in self.nodes:
            if states.get(node.name, ("", ""))[0] == "primary":
                return node
        raise RuntimeError(f"no primary: {states}")

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    # -- URLs ------------------------------------------------------------------------

    def url(self, dbname: str = "ledger", *, target: str = "read-write") -> str:
        """A multi-host store URL over both data nodes, node1 first."""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)
        return f"postgresql://postgres@{hosts}/{dbname}?target_session_attrs={target}"

    # -- failover --------------------------------------------------------------------

    def tune(self) -> None:
        """The node-side timeouts (NODE_SETTINGS), on every data node."""
        for node in self.nodes:
            self._configure(node)

    def kill(self, node: Node) -> float:
        """A lost machine: SIGKILL the node's pg_autoctl (its whole process group) and its
        postmaster. Returns the monotonic time of the kill."""
        postmaster = node.postmaster()
        _signal_group(node, signal.SIGKILL)
        if postmaster is not None and _alive(postmaster):
            os.kill(postmaster, signal.SIGKILL)
        killed = time.monotonic()
        assert node.process is not None
        node.process.wait(30)
        if postmaster is not None:
            deadline = time.monotonic() + 30
            while _alive(postmaster):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postmaster {postmaster} is alive after SIGKILL")
                time.sleep(0.02)
        return killed

    def wait_promoted(self, lost: Node, timeout: float = 120) -> tuple[Node, float]:
        """Until the monitor has promoted the other node: it reports wait_primary (it takes
        writes; no standby to wait for) or primary. Returns it and the monotonic time."""
        other = next(n for n in self.nodes if n is not lost)
        deadline = time.monotonic() + timeout
        while True:
            try:
                reported = self.states()[other.name][0]
            except psycopg.Error:
                reported = "?"
            if reported in PROMOTED:
                return other, time.monotonic()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"not promoted after {timeout}s: {self.states()}\n{self.log_tail(other)}"
                )
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _signal_group(node: Node, signum: int) -> None:
    if node.process is None or node.process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.process.pid, signum)
