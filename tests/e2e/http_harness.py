"""Harness of the HTTP load and fault tests: `deployledger serve` as a real process, a load of
concurrent keep-alive clients, and the check that every report is stored exactly once.

- `Service`: `deployledger serve` started as a subprocess (its own session, so that the
  supervisor and its workers go together), `wait_healthy()`, `worker_pids()`, `stop()`.
- `plan_load()`: reports with unique messageIds over many workloads, dealt to clients.
- `run_load()`: one thread and one keep-alive `httpx.Client` per client. With `retry=True` a
  client resends a report after a 503 (honouring Retry-After) or a broken connection, with the
  same body and Idempotency-Key, until it is acknowledged.
- `check_stored()`: through the library, every planned report is stored once (or, for those
  never acknowledged, at most once), per-workload attempts run 1..n, and every receipt a client
  got matches what is stored.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import cli_args, cli_env, every_attempt, report

from deployledger import Ledger
from devtools.private_postgres import PrivateCluster, free_port, unavailable

TENANTS = ("acme", "globex", "initech", "umbrella", "hooli")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPORTS = "/v1/reports"


# ---------------------------------------------------------------------------------------
# A PostgreSQL server of the test's own


def require(reason: str | None, what: str) -> None:
    """Go on when `reason` is None; else skip the test, or, with CI=true, fail it: a
    test that CI must run is never skipped there."""
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true requires {what}: {reason}", pytrace=False)
    pytest.skip(reason)


@contextmanager
def private_server() -> Iterator[PrivateCluster]:
    """A private PostgreSQL cluster (devtools/private_postgres.py), removed on exit. Every
    PostgreSQL test here runs on one: a service under load holds dozens of connections
    (per worker a pool of events, one of the read model, a writer and a follower), which
    must not exhaust the shared server's `max_connections` for the tests running beside.
    Skipped outside CI if no cluster can be made here; a failure with CI=true."""
    require(unavailable(), "a private PostgreSQL cluster")
    with PrivateCluster.start() as made:
        yield made


def peak_connections(cluster: PrivateCluster, dbname: str, load: Load, requests: int) -> int:
    """Sample the connections open to `dbname` every 0.2 s until `requests` answers are in
    (run as `during=`); return the most seen."""
    peak = 0
    while True:
        with load.lock:
            if len(load.answers) >= requests or load.errors:
                return peak
        peak = max(peak, cluster.backends(dbname))
        time.sleep(0.2)


# ---------------------------------------------------------------------------------------
# The service as a process


def admin_token(store: str) -> str:
    """A new admin token with both scopes, made through the library (the store must exist)."""
    with Ledger.open(store) as ledger:
        _grant, token = ledger.tokens.create(admin=True, scopes=("read", "write"), name="load")
    return token


class Service:
    """`deployledger --store STORE serve --port PORT --workers N [extra...]` as a subprocess."""

    def __init__(
        self,
        store: str,
        folder: Path,
        *,
        workers: int = 1,
        port: int | None = None,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        name: str = "serve",
    ) -> None:
        self.store = store
        self.workers = workers
        self.port = port or free_port()
        self.extra = extra
        self.env = env or {}
        self.log_path = folder / f"{name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Service:
        argv = cli_args(
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            *self.extra,
            store=self.store,
        )
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=cli_env(self.env),
                start_new_session=True,  # its own process group: the workers go with it
            )
        self.wait_healthy(timeout)
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"

    def wait_healthy(self, timeout: float = 60) -> None:
        """Until GET /healthz answers 200 (and, with several workers, until each worker
        process is up)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            code = self.proc.poll()
            assert code is None, f"serve exited {code} on start:\n{self.log()}"
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200 and (
                    self.workers == 1 or len(self.worker_pids()) >= self.workers
                ):
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"serve not healthy in {timeout}s:\n{self.log()}"
            time.sleep(0.1)

    def worker_pids(self) -> list[int]:
        """The worker processes of uvicorn's supervisor (its children that run the app: not
        multiprocessing's resource tracker). Empty with --workers 1 (one process)."""
        assert self.proc is not None
        found = []
        for pid in children(self.proc.pid):
            cmdline = _cmdline(pid)
            if "resource_tracker" in cmdline or "semaphore_tracker" in cmdline:
                continue
            found.append(pid)
        return found

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, then SIGKILL for the whole process group; the exit code of `serve`."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout)
        with _quiet():
            os.killpg(self.proc.pid, signal.SIGKILL)  # stray workers of this service only
        return self.proc.wait(timeout=timeout)


def children(pid: int) -> list[int]:
    """The direct children of `pid`, from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@contextmanager
def _quiet() -> Iterator[None]:
    with suppress(ProcessLookupError, PermissionError):
        yield


@contextmanager
def running(*services: Service) -> Iterator[tuple[Service, ...]]:
    """Start the services, and stop them on exit whatever happens."""
    try:
        for service in services:
            service.start()
        yield services
    finally:
        for service in services:
            service.stop()


# ---------------------------------------------------------------------------------------
# The load


@dataclass(frozen=True)
class Planned:
    """One report to send: its number, body, messageId, and whether to send it twice."""

    index: int
    body: dict[str, Any]
    key: str
    repeat: bool
    idempotency_header: bool

    @property
    def workload(self) -> tuple[str, str]:
        return (self.body["tenantId"], self.body["workloadRtId"])


def workload_of(n: int) -> tuple[str, str]:
    """Workload number `n`: a tenant and a runtime id."""
    return TENANTS[n % len(TENANTS)], f"rt-{n:04d}"


def plan_load(
    count: int, workloads: int, clients: int, *, seed: int = 9, prefix: str = "load"
) -> list[list[Planned]]:
    """`count` reports over `workloads` workloads, in random order, dealt to `clients`
    clients (so every workload gets reports from several clients at once). Every other client
    sends each report twice; those clients put the key in an Idempotency-Key header too."""
    rng = random.Random(seed)
    slots = [n % workloads for n in range(count)]
    rng.shuffle(slots)
    plans: list[list[Planned]] = [[] for _ in range(clients)]
    for index, slot in enumerate(slots):
        client = index % clients
        tenant, rtid = workload_of(slot)
        key = f"{prefix}-{index:06d}"
        body = report(
            rtid,
            tenant=tenant,
            name=f"app-{slot % 37}",
            pool=f"pool-{slot % 3}",
            success=rng.random() < 0.7,
            message=None if index % 5 else f"Error: UPGRADE FAILED: report {index}",
            messageId=key,
        )
        repeat = client % 2 == 1
        plans[client].append(Planned(index, body, key, repeat, repeat))
    return plans


@dataclass
class Answer:
    """One HTTP exchange (status 0: no answer, the connection failed or timed out)."""

    index: int
    status: int
    receipt: dict[str, Any] | None
    error: str | None
    retry_after: str | None
    began: float
    ended: float


@dataclass
class Load:
    """What a load run sent and got back."""

    plans: list[list[Planned]]
    answers: list[Answer] = field(default_factory=list)
    elapsed: float = 0.0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def planned(self) -> list[Planned]:
        return sorted((p for plan in self.plans for p in plan), key=lambda p: p.index)

    def by_status(self) -> Counter[int]:
        return Counter(a.status for a in self.answers)

    def acknowledged(self) -> dict[int, list[Answer]]:
        """Per report number, its 2xx answers."""
        found: dict[int, list[Answer]] = defaultdict(list)
        for answer in self.answers:
            if 200 <= answer.status < 300:
                found[answer.index].append(answer)
        return found

    def server_errors(self) -> list[Answer]:
        return [a for a in self.answers if a.status >= 500]

    def summary(self) -> str:
        statuses = ", ".join(
            f"{k or 'no answer'}: {v:,}" for k, v in sorted(self.by_status().items())
        )
        rate = len(self.answers) / self.elapsed if self.elapsed else 0
        return (
            f"{len(self.answers):,} requests for {len(self.planned):,} reports in "
            f"{self.elapsed:.1f} s ({rate:,.0f} requests/s); {statuses}"
        )


def receipt_of(answer: Any) -> dict[str, Any] | None:
    """The one receipt of a single-message POST answer (a receipt object, a list of one, or
    an object holding `receipts`)."""
    if isinstance(answer, dict) and "receipts" in answer:
        answer = answer["receipts"]
    if isinstance(answer, list):
        return answer[0] if len(answer) == 1 and isinstance(answer[0], dict) else None
    return answer if isinstance(answer, dict) else None


RETRYABLE = {503}


def run_load(
    base_url: str,
    token: str,
    plans: list[list[Planned]],
    *,
    retry: bool = False,
    give_up_after: float = 600.0,
    timeout: float = 900.0,
    during: Callable[[Load], None] | None = None,
    gate: threading.Event | None = None,
) -> Load:
    """Send every plan from its own thread and keep-alive client; return what happened.

    `retry`: resend after a 503 or a failed connection until acknowledged (or until
    `give_up_after` seconds from the start). A client still sending after `timeout` seconds
    fails the run (a hung service). `during(load)` runs in the calling thread while
    the clients send (to restart a database, kill a worker ...). `gate`: while it is
    clear, the clients send nothing new (requests under way finish); `during` may clear it
    to hold the load back for a while, and must set it again."""
    load = Load(plans)
    started = time.monotonic()
    barrier = threading.Barrier(len(plans) + 1)

    def client(number: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        waits = httpx.Timeout(30.0, connect=5.0)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=base_url, headers=headers, timeout=waits, limits=limits) as c:
            barrier.wait(timeout=60)
            for planned in plans[number]:
                sends = 2 if planned.repeat else 1
                for _ in range(sends):
                    if gate is not None:
                        gate.wait(timeout)
                    _deliver(c, planned, load, retry, started + give_up_after)

    def target(number: int) -> None:
        try:
            client(number)
        except BaseException as e:  # reported by the test
            with load.lock:
                load.errors.append(f"client {number}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=target, args=(n,), daemon=True) for n in range(len(plans))]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    t0 = time.monotonic()
    try:
        if during is not None:
            during(load)
    finally:
        for thread in threads:
            thread.join(timeout=max(1.0, started + timeout - time.monotonic()))
    load.elapsed = time.monotonic() - t0
    hung = sum(t.is_alive() for t in threads)
    assert not hung, f"{hung} client thread(s) hung"
    return load


def _deliver(c: httpx.Client, planned: Planned, load: Load, retry: bool, deadline: float) -> None:
    """Send one report; with `retry`, until a 2xx (or a final answer) or the deadline."""
    headers = {"Idempotency-Key": planned.key} if planned.idempotency_header else {}
    pause = 0.05
    while True:
        began = time.monotonic()
        status, receipt, error, retry_after = 0, None, None, None
        try:
            response = c.post(REPORTS, json=planned.body, headers=headers)
            status = response.status_code
            retry_after = response.headers.get("Retry-After")
            if 200 <= status < 300:
                receipt = receipt_of(response.json())
            else:
                error = response.text[:500]
        except httpx.TransportError as e:
            error = f"{type(e).__name__}: {e}"
        with load.lock:
            load.answers.append(
                Answer(planned.index, status, receipt, error, retry_after, began, time.monotonic())
            )
        if not retry or 200 <= status < 300 or (status and status not in RETRYABLE):
            return
        if time.monotonic() > deadline:
            return
        wait = pause
        if retry_after is not None and retry_after.isdigit():
            wait = min(float(retry_after), 1.0)
        time.sleep(wait * random.uniform(0.5, 1.0))
        pause = min(pause * 2, 0.5)


# ---------------------------------------------------------------------------------------
# Exactly once


@dataclass
class Stored:
    """What the store holds, read through the library after a run."""

    max_position: int
    audit_count: int
    positions: list[int]
    by_key: dict[str, list[tuple[str, str, int, int]]]  # messageId -> (tenant, rt, attempt, pos)
    attempts: dict[tuple[str, str], list[int]]  # oldest first


def read_stored(url: str, workloads: set[tuple[str, str]]) -> Stored:
    with Ledger.open(url) as ledger:
        audited = every_attempt(ledger)
        by_key: dict[str, list[tuple[str, str, int, int]]] = defaultdict(list)
        attempts: dict[tuple[str, str], list[int]] = {}
        for tenant, rtid in sorted(workloads):
            history = ledger.history(tenant, rtid)[::-1]
            attempts[(tenant, rtid)] = [a.attempt for a in history]
            for a in history:
                by_key[a.message_id or ""].append((tenant, rtid, a.attempt, a.position))
        return Stored(
            ledger.max_position(),
            len(audited),
            sorted(a.position for a in audited),
            by_key,
            attempts,
        )


def check_stored(url: str, load: Load, *, all_acknowledged: bool = True) -> Stored:
    """Every report acknowledged with a 2xx is stored exactly once, where its receipts say;
    a report never acknowledged is stored at most once; nothing else is stored; per workload
    the attempts are 1..n. `all_acknowledged`: every planned
    report must have been acknowledged."""
    planned = load.planned
    acked = load.acknowledged()
    if all_acknowledged:
        missing = [p.index for p in planned if p.index not in acked]
        assert not missing, f"{len(missing)} reports never acknowledged, e.g. {missing[:5]}"
    workloads = {p.workload for p in planned}
    stored = read_stored(url, workloads)
    keys = {p.key for p in planned}
    assert set(stored.by_key) <= keys, f"unplanned messages stored: {set(stored.by_key) - keys}"
    doubled = {k: v for k, v in stored.by_key.items() if len(v) > 1}
    assert not doubled, f"{len(doubled)} reports stored twice, e.g. {list(doubled.items())[:3]}"
    lost = [p.key for p in planned if p.index in acked and p.key not in stored.by_key]
    assert not lost, f"{len(lost)} acknowledged reports are not stored, e.g. {lost[:5]}"
    total = len(stored.by_key)
    assert stored.audit_count == total
    # A workload's first message also stores its registration event. On PostgreSQL a position
    # is a sequence value, and an insert retried after a conflict leaves a hole: so the
    # positions reach at least, not exactly, the number of events.
    registered = sum(1 for numbers in stored.attempts.values() if numbers)
    assert stored.max_position >= total + registered, (stored.max_position, total, registered)
    assert len(set(stored.positions)) == total
    for workload, numbers in stored.attempts.items():
        assert numbers == list(range(1, len(numbers) + 1)), f"{workload}: attempts {numbers}"
    for p in planned:
        for answer in acked.get(p.index, []):
            receipt = answer.receipt
            assert receipt is not None, f"report {p.index}: a 2xx without a receipt"
            tenant, rtid, attempt, position = stored.by_key[p.key][0]
            got = (receipt["tenantId"], receipt["workloadRtId"], receipt["attempt"])
            assert got == (tenant, rtid, attempt), f"report {p.index}: receipt {receipt}"
            assert receipt["position"] == position, f"report {p.index}: receipt {receipt}"
    return stored
