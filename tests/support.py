"""Test support shared by tests/unit, tests/integration and tests/e2e. No fixtures here.

Import it as `from support import ...`: pytest puts tests/ on sys.path for the conftest.py
there (no __init__.py: rootdir-relative "prepend" imports, as the rest of the suite uses).
The workers that run in "spawn" child processes live here too: children import them by name.

- Reports: `report()` for one (camelCase dict), `parsed_report()` for one parsed,
  `reports()` for a reproducible series; `TENANT`, `RT_ID`, `EVERY_FIELD`, `INJECTION`.
- The read model as rows: `engine_for(url)`, `view_rows(engine, tenant=...)`,
  `projection_runner(ledger, engine)`, `every_attempt(ledger, **filters)`, `eventually()`.
- Models of what was recorded, to check the read-model queries against:
  `audit_trail(url)` (`AuditTrail`), `fleet_of(url)` (`Fleet`), `EXACT_MESSAGES`.
- The installed `deployledger` console script: `run_cli`, `spawn`, `Result`, `Running`,
  `cli_args`, `cli_env`; the same command in this process: `run_in_process`; both behind
  `Runner` (`Cli`); `EXAMPLES` and the keys of its JSON output.
- PostgreSQL databases: `create_database`, `drop_database`, `DatabaseDropper`,
  `empty_postgres`, `postgres_tables`, `postgres_unreachable`, `database_url`, `with_password`.
- Template stores, migrated once per process and copied per test: `migrated_sqlite`,
  `wait_until_unused`.
- Concurrency: `run_threads`, `run_processes` and their child workers.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import queue
import random
import select as os_select
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, select

from deployledger import Attempt, Ledger, Receipt, WorkloadDeploymentStatus, parse_report
from deployledger.domain.storeurl import parse_store_url
from deployledger.store.database import make_engine
from deployledger.store.events.eventstore import EventStore
from deployledger.store.readmodel.runner import ProjectionRunner
from deployledger.store.readmodel.tables import deployment_attempts, workload_state

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------
# Reports

TENANT = "t1"
RT_ID = "64f1c0ffee0000000000beef"
NAME = "billing-api"
POOL = "pool-a"
PASSWORD = "s3cret" + "pw"  # built, so that no traceback source line shows it whole
INJECTION = "x' OR '1'='1"


def report(
    rtid: str = RT_ID,
    *,
    tenant: str = TENANT,
    name: str = NAME,
    pool: str | None = POOL,
    success: Any = True,
    message: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A valid report, as the contract's camelCase JSON object.

    The keywords set the usual fields. Any other keyword is a contract field by its camelCase
    name (`messageId="m-1"`, `reportedAt=...`), and it wins over the usual ones
    (`tenantId=""` makes an invalid report). A value of `...` drops the key.
    """
    body: dict[str, Any] = {
        "tenantId": tenant,
        "poolName": pool,
        "workloadName": name,
        "workloadRtId": rtid,
        "success": success,
        "statusMessage": message,
        **fields,
    }
    return {k: v for k, v in body.items() if v is not ...}


def request(
    rtid: str = RT_ID,
    *,
    tenant: str = TENANT,
    name: str = NAME,
    chart: str = "billing",
    version: str | None = "1.2.3",
    **fields: Any,
) -> dict[str, Any]:
    """A valid deploy request (`kind: request`), camelCase; keywords as for `report`."""
    body: dict[str, Any] = {
        "kind": "request",
        "tenantId": tenant,
        "poolRtId": "pool-rt-1",
        "workloadName": name,
        "workloadRtId": rtid,
        "workloadType": "Application",
        "repositoryUrl": "https://charts.example.com/stable",
        "chartName": chart,
        "chartVersion": version,
        "isReconciliation": False,
        "valuesYaml": "replicaCount: 2\n",
        "values": [{"path": "image.tag", "value": "v1", "isSecret": False}],
        "receivesClusterSecrets": False,
        "ingressEnabled": True,
        "hostname": "billing.example.com",
        **fields,
    }
    return {k: v for k, v in body.items() if v is not ...}


def progress(
    rtid: str = RT_ID,
    message: str = "Pod billing-1 container 'app' waiting: ContainerCreating",
    *,
    tenant: str = TENANT,
    name: str = NAME,
    **fields: Any,
) -> dict[str, Any]:
    """A valid progress message (`kind: progress`), camelCase."""
    body: dict[str, Any] = {
        "kind": "progress",
        "tenantId": tenant,
        "workloadName": name,
        "workloadRtId": rtid,
        "message": message,
        **fields,
    }
    return {k: v for k, v in body.items() if v is not ...}


def undeploy(
    rtid: str = RT_ID, *, tenant: str = TENANT, name: str = NAME, **fields: Any
) -> dict[str, Any]:
    """A valid undeploy request (`kind: undeploy`), camelCase."""
    body: dict[str, Any] = {
        "kind": "undeploy",
        "tenantId": tenant,
        "poolRtId": "pool-rt-1",
        "workloadName": name,
        "workloadRtId": rtid,
        "workloadType": "Application",
        **fields,
    }
    return {k: v for k, v in body.items() if v is not ...}


# Every field set, none to its default: a report that shows where each field ends up.
EVERY_FIELD: dict[str, Any] = {
    "success": False,
    "poolName": "pool-b",
    "workloadName": "billing-api-v2",
    "statusMessage": "Error: UPGRADE FAILED\n\x00 tab\there 🚀",
    "messageId": "m-1",
    "reportedAt": "2024-05-01T12:00:00+02:00",
}


def parsed_report(rtid: str = RT_ID, **fields: Any) -> WorkloadDeploymentStatus:
    """`report(...)` parsed into the wire model."""
    return parse_report(report(rtid, **fields))


def reports(count: int, *, first: int = 0, seed: int = 0, **fields: Any) -> list[dict[str, Any]]:
    """Reports number `first` to `first + count - 1`, each made by `report()`.

    Every keyword is one of `report()`'s: a plain value, or a function of the report's
    number and a `random.Random(seed)` shared by the series. The functions are called in
    keyword order, report by report, so a series is the same for the same arguments.
    """
    rng = random.Random(seed)
    made = []
    for number in range(first, first + count):
        values = {k: v(number, rng) if callable(v) else v for k, v in fields.items()}
        made.append(report(**values))
    return made


# ---------------------------------------------------------------------------------------
# The read model as rows

Rows = list[tuple[Any, ...]]


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    """A SQLAlchemy engine on the store (or read-model database) at `url`, disposed after."""
    engine = make_engine(parse_store_url(url))
    try:
        yield engine
    finally:
        engine.dispose()


def view_rows(engine: Engine, *, tenant: str | None = None) -> tuple[Rows, Rows]:
    """Every `workload_state` row by workload id, and every `deployment_attempts` row by
    position (of one tenant only, if given), as plain tuples."""
    states = select(workload_state).order_by(workload_state.c.workload_id)
    attempts = select(deployment_attempts).order_by(deployment_attempts.c.position)
    if tenant is not None:
        states = states.where(workload_state.c.tenant_id == tenant)
        attempts = attempts.where(deployment_attempts.c.tenant_id == tenant)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(states)], [tuple(r) for r in conn.execute(attempts)]


def event_store(ledger: Ledger) -> EventStore:
    """The ledger's event store, which `Ledger.open` builds on a database."""
    store = ledger._store
    assert isinstance(store, EventStore), store
    return store


def projection_runner(ledger: Ledger, engine: Engine, **options: Any) -> ProjectionRunner:
    """A projection runner of its own on the ledger's event store, writing through `engine`."""
    return ProjectionRunner(event_store(ledger), engine, **options)


def every_attempt(ledger: Ledger, **filters: Any) -> list[Attempt]:
    """Every attempt `ledger.audit(**filters)` lists, page after page, newest first."""
    page = ledger.audit(**filters, limit=10_000)
    found = list(page.items)
    while page.next_cursor is not None:
        page = ledger.audit(**filters, limit=10_000, cursor=page.next_cursor)
        found += page.items
    return found


def eventually(
    check: Callable[[], Any], timeout: float = 30, what: str = "a condition", every: float = 0.01
) -> Any:
    """Poll `check` every `every` seconds until it returns something true, and return that;
    fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


# ---------------------------------------------------------------------------------------
# Models of what was recorded

MIB = 1024 * 1024

# Status messages the read model must store and give back exactly, by name.
EXACT_MESSAGES: dict[str, str | None] = {
    "none": None,
    "empty": "",
    "nul-inside": "before\x00after",
    "nul-alone": "\x00",
    "nul-many": "\x00\x00 x \x00",
    "replacement-char": "\ufffd is not a NUL",
    "emoji": "🚀🔥 deploy failed 👩‍👩‍👧 ✅ 🇩🇪",
    "cjk": "部署失败：另一个操作（安装/升级/回滚）正在进行中",
    "rtl": "فشل النشر: عملية أخرى قيد التقدم \u200f שגיאה בפריסה",
    "combining": "e\u0301 is not \u00e9; A\u030a is not \u00c5",
    "controls": "tab\tcr\rlf\nff\x0c\x1b[31mred\x1b[0m \u2028\u2029 \x7f",
    "spaces": "  leading and trailing  \n",
    "1mib-ascii": "x" * MIB,
    "1mib-two-byte": "é" * (MIB // 2),
    "1mib-four-byte": "😀" * (MIB // 4),
    "1mib-with-nul": "a\x00" * (MIB // 2),
}


def exact_message_reports() -> list[dict[str, Any]]:
    """One failed report of tenant acme per `EXACT_MESSAGES` entry; the runtime id is the name."""
    return [
        report(name, tenant="acme", pool=None, success=False, message=message)
        for name, message in EXACT_MESSAGES.items()
    ]


AUDIT_MESSAGES = [
    None,
    "",
    "ÄRGER im Cluster",
    "kein ärger hier",
    "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
    "progress 100% done",
    "progress 1000 done",
    "under_score",
    "underXscore",
    "back\\slash",
    "a\x00b",
    "部署失败 🚀",
]
AUDIT_TENANTS = ["acme", "globex", "initech", INJECTION]

# For `reports()`: four tenants (every ninth report the injection one), five runtime ids,
# three names, random pools and outcomes, and every message of AUDIT_MESSAGES in turn.
AUDIT_MIX: dict[str, Any] = {
    "tenant": lambda n, _: AUDIT_TENANTS[n % 4 if n % 9 else 3],
    "rtid": lambda n, _: f"rt-{n % 5}",
    "name": lambda n, _: f"name-{n % 3}",
    "pool": lambda _, rng: rng.choice([None, "pool-a", "pool-b"]),
    "success": lambda _, rng: rng.random() < 0.5,
    "message": lambda n, _: AUDIT_MESSAGES[n % len(AUDIT_MESSAGES)],
}


@dataclass(frozen=True)
class AuditRow:
    """One recorded attempt, as the model knows it."""

    position: int
    tenant_id: str
    workload_rt_id: str
    workload_name: str
    pool_name: str | None
    success: bool
    message: str | None
    recorded_at: datetime

    def matches(self, f: dict[str, Any]) -> bool:
        """Whether `ledger.audit(**f)` must list this attempt."""
        checks = [
            f.get("tenant_id") in (None, self.tenant_id),
            f.get("pool_name") in (None, self.pool_name),
            f.get("workload_name") in (None, self.workload_name),
            f.get("workload_rt_id") in (None, self.workload_rt_id),
            f.get("success") in (None, self.success),
            f.get("since") is None or self.recorded_at >= f["since"],
            f.get("until") is None or self.recorded_at < f["until"],
        ]
        grep = f.get("grep")
        if grep:
            checks.append(self.message is not None and grep.casefold() in self.message.casefold())
        return all(checks)


@dataclass
class AuditTrail:
    """An open ledger, and the model of the attempts recorded in it."""

    url: str
    ledger: Ledger
    rows: list[AuditRow]

    def expected(self, **filters: Any) -> list[int]:
        """The positions `ledger.audit(**filters)` must give, newest first."""
        return sorted((r.position for r in self.rows if r.matches(filters)), reverse=True)

    def found(self, **filters: Any) -> list[int]:
        """The positions `ledger.audit(**filters)` gives, on one page."""
        page = self.ledger.audit(**filters, limit=10_000)
        assert page.next_cursor is None
        return [a.position for a in page.items]


@contextmanager
def audit_trail(url: str) -> Iterator[AuditTrail]:
    """60 reports of `AUDIT_MIX`, recorded in three chunks a few milliseconds apart."""
    sent = reports(60, seed=7, **AUDIT_MIX)
    with Ledger.open(url, create=True) as ledger:
        receipts: list[Receipt] = []
        for start in (0, 20, 40):
            receipts += ledger.record_many(sent[start : start + 20])
            time.sleep(0.005)
        rows = [
            AuditRow(
                r.position,
                rep["tenantId"],
                rep["workloadRtId"],
                rep["workloadName"],
                rep["poolName"],
                rep["success"],
                rep["statusMessage"],
                r.recorded_at,
            )
            for rep, r in zip(sent, receipts, strict=True)
        ]
        yield AuditTrail(url, ledger, rows)


Key = tuple[str, str]


def fleet_summary(key: Key, row: dict[str, Any]) -> tuple[Any, ...]:
    """What the fleet model compares of one workload (a camelCase state row)."""
    return (
        *key,
        row["state"],
        row["poolName"],
        row["attempts"],
        row["failures"],
        row["consecutiveFailures"],
        row["statusMessage"],
    )


@dataclass
class Fleet:
    """An open ledger, and per workload what its state must be: that of its latest report
    (Deployed after a success, Error after a failure), in the pool of its latest report."""

    url: str
    ledger: Ledger
    rows: dict[Key, dict[str, Any]]

    def expected(
        self, tenant: str | None = None, pool: str | None = None, state: str | None = None
    ) -> list[tuple[Any, ...]]:
        return [
            fleet_summary(key, row)
            for key, row in sorted(self.rows.items())
            if tenant in (None, key[0])
            and pool in (None, row["poolName"])
            and state in (None, row["state"].lower())
        ]

    def found(self, **filters: Any) -> list[tuple[Any, ...]]:
        states = self.ledger.workloads(**filters)
        return [fleet_summary((s.tenant_id, s.workload_rt_id), s.to_json()) for s in states]


def fold_fleet(sent: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """The fleet model of these reports, in this order."""
    rows: dict[Key, dict[str, Any]] = {}
    for rep in sent:
        row = rows.setdefault(
            (rep["tenantId"], rep["workloadRtId"]),
            {"attempts": 0, "failures": 0, "consecutiveFailures": 0},
        )
        row["attempts"] += 1
        row["poolName"] = rep["poolName"]
        row["statusMessage"] = rep["statusMessage"]
        row["state"] = "Deployed" if rep["success"] else "Error"
        if rep["success"]:
            row["consecutiveFailures"] = 0
        else:
            row["failures"] += 1
            row["consecutiveFailures"] += 1
    return rows


FLEET_MIX: dict[str, Any] = {
    "tenant": lambda _, rng: rng.choice(["acme", "globex", "initech"]),
    "rtid": lambda _, rng: f"rt-{rng.randrange(8)}",
    "name": lambda n, _: f"name-{n % 4}",
    "pool": lambda _, rng: rng.choice([None, "pool-a", "pool-b"]),
    "success": lambda _, rng: rng.random() < 0.6,
    "message": lambda _, rng: rng.choice(["ok", "UPGRADE FAILED", None, "ärger"]),
}


@contextmanager
def fleet_of(url: str) -> Iterator[Fleet]:
    """120 reports of `FLEET_MIX` over 3 tenants and 8 runtime ids, in batches of 30."""
    sent = reports(120, seed=11, **FLEET_MIX)
    with Ledger.open(url, create=True) as ledger:
        for start in range(0, len(sent), 30):
            ledger.record_many(sent[start : start + 30])
        yield Fleet(url, ledger, fold_fleet(sent))


# ---------------------------------------------------------------------------------------
# The installed console script, as a subprocess

CLI = str(Path(sys.executable).parent / "deployledger")
EXAMPLES = REPO / "examples" / "reports.jsonl"
EXAMPLE_TENANT = "acme-prod"
EXAMPLE_RT_ID = "64f1c0ffee0000000000beef"  # checkout-api: 7 attempts, 4 failed, the last too

RECEIPT_KEYS = {
    "tenantId",
    "workloadRtId",
    "attempt",
    "position",
    "recordedAt",
    "state",
    "duplicate",
    "messageTruncated",
}
STATE_KEYS = {
    "tenantId",
    "workloadRtId",
    "workloadName",
    "poolName",
    "state",
    "statusMessage",
    "attempts",
    "failures",
    "consecutiveFailures",
    "lastAttemptAt",
    "lastSuccessAt",
    "lastFailureAt",
}
HISTORY_KEYS = {
    "attempt",
    "recordedAt",
    "reportedAt",
    "success",
    "state",
    "statusMessage",
    "workloadName",
    "poolName",
    "messageId",
    "position",
    "messageTruncated",
}
AUDIT_KEYS = HISTORY_KEYS | {"tenantId", "workloadRtId"}


@dataclass(frozen=True)
class Result:
    """What one CLI process did."""

    argv: list[str]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        # Split on "\n" alone: JSON output keeps U+2028, U+0085 ... unescaped, and
        # str.splitlines() would cut a line there.
        return [json.loads(line) for line in self.out.split("\n") if line]

    def lines(self) -> list[str]:
        return self.out.splitlines()


class Running:
    """A CLI process started by `spawn`; `result()` waits for it and checks it."""

    def __init__(self, argv: list[str], proc: subprocess.Popen[bytes], data: bytes | None) -> None:
        self.argv, self._proc, self._data = argv, proc, data
        self._err_seen = b""

    def send_signal(self, signal: int) -> None:
        self._proc.send_signal(signal)

    def wait_for_stderr(self, text: str, timeout: float = 60) -> None:
        """Wait until the process has said `text` on stderr (for a process that runs until
        it is stopped: its input is not sent). What was read is kept for `result()`."""
        assert self._proc.stderr is not None
        fd = self._proc.stderr.fileno()
        deadline = time.monotonic() + timeout
        while text.encode("utf-8") not in self._err_seen:
            left = deadline - time.monotonic()
            ready, _, _ = os_select.select([fd], [], [], max(left, 0))
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                said = self._err_seen.decode("utf-8", "replace")
                raise AssertionError(f"{self.argv[1:]!r} did not say {text!r}; it said:\n{said}")
            self._err_seen += chunk

    def result(self, expect: int | None = 0, timeout: float = 120) -> Result:
        """Wait for the process; check its exit code (unless `expect=None`) and that stderr
        shows no Python traceback, whatever the exit code."""
        try:
            out, err = self._proc.communicate(self._data, timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            raise
        err = self._err_seen + err
        result = Result(self.argv, self._proc.returncode, out.decode("utf-8"), err.decode("utf-8"))
        return _checked(result, expect)


def cli_args(*args: str | os.PathLike[str], store: str | None = None) -> list[str]:
    """The argv of `deployledger [--store STORE] ARGS...`."""
    return [CLI, *(["--store", store] if store is not None else []), *map(str, args)]


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without `DEPLOYLEDGER_*` variables, plus `env`."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYLEDGER_")}
    child_env.update(env or {})
    return child_env


def spawn(
    *args: str | os.PathLike[str],
    store: str | None = None,
    stdin: str | bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Running:
    """Start `deployledger [--store STORE] ARGS...` without waiting for it, so that
    independent read-only commands can run side by side (each start costs ~0.5-1 s)."""
    argv = cli_args(*args, store=store)
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL if data is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(env),
        cwd=cwd,
    )
    return Running(argv, proc, data)


def run_cli(
    *args: str | os.PathLike[str],
    store: str | None = None,
    stdin: str | bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    expect: int | None = 0,
) -> Result:
    """Run `deployledger [--store STORE] ARGS...` to the end; check its exit code (unless
    `expect=None`) and that stderr shows no traceback."""
    return spawn(*args, store=store, stdin=stdin, env=env, cwd=cwd).result(expect)


# ---------------------------------------------------------------------------------------
# The same command, in this process


class _Pipe(io.BytesIO):
    """Bytes read as from a pipe: not seekable, so `record -` copies them aside as it must
    for a real pipe (and `fileno()` fails, as `os.fstat` of a pipe says nothing useful)."""

    def seekable(self) -> bool:
        return False


class _Captured(io.BytesIO):
    """Bytes written as to a pipe, still there once the stream's wrapper has closed it."""

    def close(self) -> None:
        pass


@contextmanager
def _isolated(
    data: bytes | None, env: dict[str, str] | None, cwd: Path | None
) -> Iterator[tuple[io.BytesIO, io.BytesIO]]:
    """Run the block as in a new `deployledger` process started by `spawn`: stdin a pipe
    holding `data` (empty if None), stdout and stderr pipes (their bytes are yielded), the
    environment of `cli_env(env)` (COLUMNS 80 when unset, as on a pipe), the working
    directory `cwd`. Everything is put back afterwards, the SIGINT and SIGTERM handlers too."""
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    out, err = _Captured(), _Captured()
    try:
        child_env = cli_env(env)
        child_env.setdefault("COLUMNS", "80")
        os.environ.clear()
        os.environ.update(child_env)
        if cwd is not None:
            os.chdir(cwd)
        sys.stdin = io.TextIOWrapper(_Pipe(data or b""), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(out, encoding="utf-8", errors="strict")
        sys.stderr = io.TextIOWrapper(
            err, encoding="utf-8", errors="backslashreplace", line_buffering=True
        )
        yield out, err
    finally:
        for stream in (sys.stdout, sys.stderr):
            with suppress(ValueError):  # closed by the command (a broken pipe)
                stream.flush()
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        for signum, handler in saved_handlers.items():
            signal.signal(signum, handler)
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def _checked(result: Result, expect: int | None) -> Result:
    """`result`, once checked as `Running.result` checks a process's."""
    where = f"{result.argv[1:]!r} exited {result.code}\n"
    where += f"--- stdout\n{result.out}\n--- stderr\n{result.err}"
    assert "Traceback" not in result.err, where
    assert "Exception ignored" not in result.err, where
    if expect is not None:
        assert result.code == expect, where
    return result


def _exit_code(exit: SystemExit) -> int:
    """The exit status a process ending with this `SystemExit` has (and its message said on
    stderr, as the interpreter says it)."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code
    print(exit.code, file=sys.stderr)
    return 1


def run_in_process(
    *args: str | os.PathLike[str],
    store: str | None = None,
    stdin: str | bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    expect: int | None = 0,
) -> Result:
    """`run_cli`, without a process: `deployledger.cli.main(ARGS)` in this one, as the
    script calls it, with stdin, stdout, stderr, the environment and the working directory
    of a new process (`_isolated`). Checks what `run_cli` checks, and that the command
    left no thread running (a process would not have exited)."""
    from deployledger.cli import main

    argv = cli_args(*args, store=store)
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    before = set(threading.enumerate())
    with _isolated(data, env, cwd) as (out, err):
        try:
            main(argv[1:])
            code = 0
        except SystemExit as e:
            code = _exit_code(e)
    result = Result(argv, code, out.getvalue().decode("utf-8"), err.getvalue().decode("utf-8"))
    _checked(result, expect)
    left = set(threading.enumerate()) - before
    for thread in left:
        thread.join(timeout=10)
    running = [t for t in left if t.is_alive()]
    assert not running, f"{argv[1:]!r} left threads running: {running}"
    return result


class Finished:
    """What `Runner.spawn` gives in process: the command has run already, to the end (one
    after another, where processes would run side by side); `result()` checks it as
    `Running.result` does."""

    def __init__(self, result: Result) -> None:
        self._result = result

    def result(self, expect: int | None = 0, timeout: float = 120) -> Result:
        return _checked(self._result, expect)

    def send_signal(self, signal: int) -> None:
        raise AssertionError("signals need a real process: use support.spawn")


class Runner:
    """`cli(...)` runs one command; `cli.spawn(...)` starts one and returns a `Running`
    (`Finished` in process).

    By default the command runs in this process (`run_in_process`): starting the installed
    script costs half a second or more, mostly imports. `Runner(process=True)` runs the
    installed script, for what needs a real process: its exit status, signals, bytes on a
    pipe or a pty, the script itself."""

    def __init__(self, *, process: bool = False) -> None:
        self.process = process

    def __call__(self, *args: Any, **kwargs: Any) -> Result:
        return self.run(*args, **kwargs)

    def run(self, *args: Any, **kwargs: Any) -> Result:
        return run_cli(*args, **kwargs) if self.process else run_in_process(*args, **kwargs)

    def spawn(self, *args: Any, **kwargs: Any) -> Running | Finished:
        if self.process:
            return spawn(*args, **kwargs)
        return Finished(run_in_process(*args, expect=None, **kwargs))


Cli = Runner


def sqlite_only(fixture: str = "store") -> pytest.MarkDecorator:
    """Run a test on SQLite alone, its `fixture` (`store` or `store_url`) parametrized so.

    For what the CLI says and how it says it (formats, time zones, usage errors) where the
    backend is not what is tested: whatever stores or reads data, or turns a backend's
    error into a message, runs on both."""
    return pytest.mark.parametrize(fixture, ["sqlite"], indirect=True)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


# ---------------------------------------------------------------------------------------
# PostgreSQL databases


def database_url(dsn: str, dbname: str) -> str:
    """The same server URL, naming database `dbname`."""
    return urlunsplit(urlsplit(dsn)._replace(path="/" + dbname))


def with_password(url: str, password: str = PASSWORD) -> str:
    """The same PostgreSQL URL with a password (the test server trusts, so it is ignored)."""
    scheme, rest = url.split("://", 1)
    userinfo, hostpart = rest.split("@", 1)
    return f"{scheme}://{userinfo.split(':', 1)[0]}:{password}@{hostpart}"


def postgres_unreachable(admin_dsn: str) -> str | None:
    """Why the server of `admin_dsn` cannot be used, or None if it can."""
    try:
        with psycopg.connect(admin_dsn, connect_timeout=3):
            return None
    except psycopg.Error as e:
        where = database_url(admin_dsn, "")
        return f"PostgreSQL not reachable at {where}: {str(e).strip()}"


# The shared server's test databases commit without waiting for the WAL flush (a setting of
# each database, not of the server): a commit there costs 2-6 ms of fsync on this machine,
# and no test of the shared server is about surviving its crash (those run on private
# clusters: devtools/private_postgres.py, devtools/replicated_postgres.py).
# DEPLOYLEDGER_TEST_SYNC_COMMIT=on turns it back on.
SYNC_COMMIT_OFF = os.environ.get("DEPLOYLEDGER_TEST_SYNC_COMMIT", "off") != "on"


def create_database(admin_dsn: str, prefix: str = "dl_test", template: str | None = None) -> str:
    """Create a fresh, uniquely named database beside the admin one; return its URL. With
    `template` (a database URL), the new one is a copy of that database, which must have
    no open connections (see `wait_until_unused`)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        source = urlsplit(template).path.lstrip("/")
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(source))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(create)
        if SYNC_COMMIT_OFF:
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
                    sql.Identifier(name)
                )
            )
    return database_url(admin_dsn, name)


def wait_until_unused(admin_dsn: str, url: str, timeout: float = 30) -> None:
    """Wait until no session is connected to the database of `url` (a pool that was just
    disposed can take a moment to hang up), so that it can be a template."""
    name = urlsplit(url).path.lstrip("/")

    def unused() -> bool:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
            ).fetchone()
        return row is not None and row[0] == 0

    eventually(unused, timeout, f"the last connection to {name} to close", every=0.05)


def drop_database(admin_dsn: str, url: str) -> None:
    """Drop the database of `url`, closing its connections."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


class DatabaseDropper:
    """Drops databases a batch at a time, several at once, in a process of its own.

    A DROP DATABASE waits for a checkpoint of the whole server, which takes a second or more
    on a busy machine; drops issued together share one. So a test hands its database over
    here, and every `BATCH` databases (and at `close()`, at the end of the session) they are
    dropped together by a child process, while the tests go on: the test process waits only
    for the batch before, when it hands over the next one. A process, not threads: the
    library behaves differently in a process with more than one thread
    (deployledger.store.rebuild.classify forks its workers only from a single-threaded one)."""

    BATCH = 12

    def __init__(self, admin_dsn: str) -> None:
        self._admin = admin_dsn
        self._pending: list[str] = []
        self._dropping: subprocess.Popen[str] | None = None
        self._batch: list[str] = []
        self.errors: list[str] = []

    def drop(self, url: str) -> None:
        """Drop the database of `url` (its connections are closed first), soon."""
        self._pending.append(url)
        if len(self._pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        """Start dropping every database handed over so far, all at once (after the batch
        before has been dropped)."""
        self._collect()
        self._batch, self._pending = self._pending, []
        if self._batch:
            self._dropping = subprocess.Popen(
                [sys.executable, "-c", _DROP_BATCH, self._admin, *self._batch],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def close(self) -> list[str]:
        """Drop the last databases; return the drops that failed, and why."""
        self.flush()
        self._collect()
        return self.errors

    def _collect(self) -> None:
        if self._dropping is None:
            return
        out, _ = self._dropping.communicate(timeout=300)
        if self._dropping.returncode != 0 or out.strip():
            self.errors.append(f"dropping {', '.join(self._batch)}: {out.strip()}")
        self._dropping = None


# The child of DatabaseDropper: argv = [admin DSN, database URL...]; prints each failure.
_DROP_BATCH = """
import sys
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit
import psycopg
from psycopg import sql

def drop(url):
    name = urlsplit(url).path.lstrip("/")
    try:
        with psycopg.connect(sys.argv[1], autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    except Exception as e:
        return f"{name}: {type(e).__name__}: {e}"

with ThreadPoolExecutor(len(sys.argv) - 2) as pool:
    failed = [e for e in pool.map(drop, sys.argv[2:]) if e]
print(*failed, sep=chr(10), end="")
"""


def postgres_tables(url: str, schema: str = "public") -> set[str]:
    """The names of the tables in one schema of the database at `url`."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
    return {row[0] for row in rows}


# Tables of more rows than this are emptied with TRUNCATE, the others with DELETE.
_DELETE_AT_MOST = 1_000


def empty_postgres(url: str) -> None:
    """Remove every row of every deployledger table, and restart their sequences (as
    `TRUNCATE ... RESTART IDENTITY` would). TRUNCATE makes new files for each table it
    empties, about 30 ms a table; a test leaves a few rows in a few tables, which DELETE
    removes in well under a millisecond (the tables have no foreign keys and no triggers),
    and empty tables are left alone. Only a table of many rows is truncated."""
    tables = sorted(postgres_tables(url) - {"alembic_version"})
    assert "deployledger_events" in tables
    sizes = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, count(*) FROM (SELECT FROM {} LIMIT {}) AS t").format(
            sql.Literal(t), sql.Identifier(t), sql.Literal(_DELETE_AT_MOST + 1)
        )
        for t in tables
    )
    with psycopg.connect(url) as conn:
        rows: list[tuple[str, int]] = conn.execute(sizes).fetchall()
        large = [t for t, n in rows if n > _DELETE_AT_MOST]
        for table in (t for t, n in rows if 0 < n <= _DELETE_AT_MOST):
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
        if large:
            conn.execute(
                sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, large)))
            )
        # The sequences of serial and identity columns, back to their start.
        conn.execute(
            "SELECT setval(d.objid::regclass, s.seqstart, false)"
            " FROM pg_depend d JOIN pg_sequence s ON s.seqrelid = d.objid"
            " JOIN pg_class c ON c.oid = d.refobjid"
            " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
            " AND d.deptype IN ('a', 'i') AND c.relnamespace = 'public'::regnamespace"
            " AND c.relname = ANY(%s)",
            (tables,),
        )


# ---------------------------------------------------------------------------------------
# Template stores

_sqlite_template: Path | None = None


def _migrated_sqlite_template() -> Path:
    """This process's migrated SQLite store, made at first use; removed at exit."""
    global _sqlite_template  # one template per process, made at first use
    if _sqlite_template is None:
        import atexit
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="dl-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = folder / "ledger.db"
        with Ledger.open(f"sqlite:///{path}", create=True):
            pass
        # Closed, the store is one file; make sure of it, so that a plain copy is whole.
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        _sqlite_template = path
    return _sqlite_template


def migrated_sqlite(path: Path | str) -> str:
    """A SQLite store with the deployledger schema and no events at `path`, and its URL:
    a copy of a store migrated once per process (running every migration for each test
    and each hypothesis example would cost a quarter of a second each)."""
    shutil.copyfile(_migrated_sqlite_template(), path)
    return f"sqlite:///{path}"


# ---------------------------------------------------------------------------------------
# Concurrency


def record_in_child(url: str, count: int, worker: int, barrier: Any, errors: Any) -> None:
    """Open a Ledger of its own, wait for the others, then record `count` reports."""
    try:
        with Ledger.open(url) as ledger:
            barrier.wait(timeout=60)
            for n in range(count):
                ledger.record(report(messageId=f"w{worker}-{n}", success=n % 3 != 0))
    except BaseException:
        errors.put(f"worker {worker}: {traceback.format_exc()}")
        raise


def open_with_create_in_child(url: str, worker: int, barrier: Any, errors: Any) -> None:
    """Wait for the others, then open the store with create=True."""
    try:
        barrier.wait(timeout=60)
        with Ledger.open(url, create=True):
            pass
    except BaseException:
        errors.put(f"worker {worker}: {traceback.format_exc()}")
        raise


def run_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run `work(i)` in `count` threads started together; return what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(i)
        except BaseException as e:  # collected, asserted on below
            errors.append(e)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    return errors


_forkserver: Any = None


def _child_context() -> Any:
    """The multiprocessing context of `run_processes`: a fork server that has imported what
    this module imports (deployledger ...) once per test process, and forks each child from there
    (single-threaded, no store opened). A spawned child would import it all again: a
    second or more each. The children get the fork server's environment, as it was when
    first used, and this process's sys.path."""
    global _forkserver  # one fork server per process, started at first use
    if _forkserver is None:
        _forkserver = multiprocessing.get_context("forkserver")
        # This module's imports: the fork server has the interpreter's sys.path, not this
        # process's, so it imports what this module imports (the child imports the rest).
        _forkserver.set_forkserver_preload(
            [
                "psycopg",
                "pytest",
                "sqlalchemy",
                "deployledger",
                "deployledger.store.database",
                "deployledger.store.events.eventstore",
                "deployledger.store.readmodel.runner",
            ]
        )
    return _forkserver


def run_processes(count: int, target: Callable[..., None], *args: object) -> list[str]:
    """Run `target(*args, i, barrier, errors)` in `count` new processes (`_child_context`)
    started together; return errors."""
    ctx = _child_context()
    barrier = ctx.Barrier(count)
    errors = ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(*args, i, barrier, errors), daemon=True)
        for i in range(count)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    hung = [p for p in procs if p.is_alive()]
    for proc in hung:
        proc.kill()
        proc.join()
    found = []
    while True:
        try:
            found.append(errors.get(timeout=0.1))
        except queue.Empty:
            break
    errors.close()
    errors.join_thread()
    assert not hung, f"{len(hung)} worker process(es) hung"
    assert all(p.exitcode == 0 for p in procs) or found, "a process died without a report"
    return found


def threaded_open_in_child(
    folder: str, rounds: int, worker: int, barrier: Any, errors: Any
) -> None:
    """`rounds` times, eight threads started together open a new SQLite store in `folder`
    (in a child process, so that a crash cannot take the test session down with it)."""
    barrier.wait(timeout=60)
    for round_ in range(rounds):
        url = f"sqlite:///{folder}/round{round_}.db?lock_timeout=10"  # a loaded CI machine

        def open_store(_: int, url: str = url) -> None:
            with Ledger.open(url):
                pass

        for e in run_threads(8, open_store):
            errors.put(f"worker {worker}, round {round_}: {type(e).__name__}: {e}")
