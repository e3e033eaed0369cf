"""What the failover tests share (tests/e2e/test_failover.py, test_auto_failover.py): a load
of 20 clients through `serve --workers 2` on a multi-host URL while the primary is lost and
a standby promoted, and the checks after it: every acknowledged report on the new primary
exactly once, nothing unsent stored, the read model equal to a rebuild, `verify` intact
against a checkpoint published before the failover, the reads of `make run` working.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from http_harness import Load, Service, check_stored, plan_load, run_load, running
from support import Cli, every_attempt

from deployledger import Ledger

REPORTS = 3_000  # over 120 workloads, from 20 clients
CLIENTS = 20
WINDOW_LIMIT = 30.0  # seconds from the kill to the first 2xx after it


@dataclass
class Failover:
    """When things happened (monotonic seconds) around one failover."""

    checkpoint: str = ""
    checkpoint_size: int = 0
    killed: float = 0.0
    promoted: float = 0.0
    promote_took: float = 0.0
    events_at_promotion: int = 0
    caught_up: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Figures:
    """What a failover run measured."""

    unavailable: float
    lost: int
    duplicates: int
    promote_took: float
    caught_up: float


def acked(load: Load) -> int:
    with load.lock:
        return sum(1 for a in load.answers if 200 <= a.status < 300)


def wait_until(check: object, what: str, timeout: float = 120) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.02)


def positions(dsn: str) -> tuple[int, int]:
    """(the read model's tracked position, the last event position) on one server."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        tracked = conn.execute(
            "SELECT position FROM projection_tracking WHERE name = 'read_model'"
        ).fetchone()
        last = conn.execute(
            "SELECT coalesce(max(notification_id), 0) FROM deployledger_events"
        ).fetchone()
    return (int(tracked[0]) if tracked else 0, int(last[0]) if last else 0)


def publish_checkpoint(cli: Cli, url: str, folder: Path, failover: Failover) -> None:
    """`deployledger checkpoint` on the primary, kept as a file outside the database."""
    made = cli("checkpoint", store=url)
    note = made.out if made.out.strip() else made.err
    path = folder / "published.checkpoint"
    path.write_text(note)
    failover.checkpoint = str(path)
    failover.checkpoint_size = int(note.splitlines()[1])


def window(load: Load, killed: float) -> float:
    """Seconds from the last new commit acknowledged before the kill (a 201 answered by
    then) to the first one after it (a 201 to a request sent after the kill). Duplicates
    (200) are left out: a worker may answer one from its cache without the database."""
    with load.lock:
        created = [a for a in load.answers if a.status == 201]
    before = max(a.ended for a in created if a.ended <= killed)
    after = min(a.ended for a in created if a.began > killed)
    return after - before


def snapshot(ledger: Ledger) -> tuple[object, ...]:
    """Everything the read model answers, in a comparable form."""
    fleet = sorted(
        (w.tenant_id, w.workload_rt_id, w.state, w.attempts, w.failures, w.status_message)
        for w in ledger.workloads()
    )
    audit = sorted(
        (a.tenant_id, a.workload_rt_id, a.attempt, a.position, a.success, a.category)
        for a in every_attempt(ledger)
    )
    return (fleet, audit)


def failover_load(
    url: str,
    new_primary: str,
    token: str,
    cli: Cli,
    tmp_path: Path,
    fail: Callable[[Failover], None],
    *,
    seed: int,
) -> tuple[Load, Failover, Service]:
    """Run the load through a failover: after 600 acknowledged reports a checkpoint is
    published (the clients paused meanwhile); 300 more later, `fail(failover)` loses the
    primary and gets the standby promoted (setting `killed`, `promoted`, `promote_took`);
    then the follower is waited for on `new_primary` (single-host URL of the promoted server)."""
    plans = plan_load(REPORTS, 120, CLIENTS, seed=seed, prefix=f"failover-{seed}")
    failover = Failover()
    gate = threading.Event()
    gate.set()

    def faults(load: Load) -> None:
        wait_until(lambda: acked(load) >= 600, "600 acknowledged reports")
        # The load is held back while the checkpoint is made: `checkpoint` catches the log
        # up first, and under 20 writers on a busy machine it could chase the load to its
        # end, leaving nothing to fail over under.
        gate.clear()
        try:
            publish_checkpoint(cli, url, tmp_path, failover)
        finally:
            gate.set()
        floor = acked(load) + 300
        wait_until(lambda: acked(load) >= floor, "300 more after the checkpoint")
        fail(failover)
        failover.events_at_promotion = positions(new_primary)[1]

        def caught_up() -> bool:
            return positions(new_primary)[0] >= failover.events_at_promotion

        wait_until(caught_up, "the follower to catch up on the new primary")
        failover.caught_up = time.monotonic() - failover.promoted

    service = Service(url, tmp_path, workers=2)
    with running(service):
        load = run_load(service.url, token, plans, retry=True, during=faults, gate=gate)
        failover.notes.append(f"/readyz after: {ready_after(service, failover)}")
    return load, failover, service


def ready_after(service: Service, failover: Failover, tries: int = 20) -> object:
    """/readyz after the load, asked until it answers 200 (at most `tries` times, 0.5 s
    apart); the last answer. A worker's idle pooled connection to the lost primary fails
    on its first use after the failover (it is then dropped), so the first answer of a
    worker can be 503; those are kept in `failover.notes`."""
    answer: object = None
    for _ in range(tries):
        got = httpx.get(service.url + "/readyz", timeout=10)
        answer = got.json()
        if got.status_code == 200:
            break
        failover.notes.append(f"/readyz not ready: {answer}")
        time.sleep(0.5)
    return answer


def check_failover(
    url: str,
    new_primary: str,
    new_port: int,
    load: Load,
    failover: Failover,
    service: Service,
    cli: Cli,
) -> Figures:
    """The checks after a failover to a synchronous standby (now the primary on
    `new_port`, reached alone by `new_primary`); returns the figures."""
    print(load.summary())
    assert not load.errors, load.errors[:5]
    statuses = {a.status for a in load.answers}
    assert statuses <= {0, 200, 201, 503}, (statuses, [a for a in load.server_errors()][:3])
    assert "Traceback" not in service.log(), service.log()[-3000:]

    # Every acknowledged report is on the new primary exactly once; nothing unsent is there.
    stored = check_stored(new_primary, load)
    acknowledged = load.acknowledged()
    lost = [p.key for p in load.planned if p.index in acknowledged and p.key not in stored.by_key]
    duplicates = sum(1 for v in stored.by_key.values() if len(v) > 1)
    assert failover.caught_up is not None
    figures = Figures(
        unavailable=window(load, failover.killed),
        lost=len(lost),
        duplicates=duplicates,
        promote_took=failover.promote_took,
        caught_up=failover.caught_up,
    )
    assert (figures.lost, figures.duplicates) == (0, 0), figures
    assert figures.unavailable < WINDOW_LIMIT, figures
    ready = failover.notes[-1]
    assert "'serverRole': 'primary'" in ready, failover.notes
    assert f":{new_port}'" in ready, failover.notes
    for note in failover.notes[:-1]:
        print(note)

    # The multi-host URL now reaches the promoted standby: the reads of `make run` work,
    # the read model equals a rebuild, and the log is intact against the checkpoint
    # published before the failover.
    with Ledger.open(url) as ledger:
        ledger.catch_up()
        before = snapshot(ledger)
        ledger.rebuild()
        assert snapshot(ledger) == before
        server = ledger.store_server()
        assert server is not None
        assert (server.port, server.primary) == (new_port, True)
    tenant, rtid = load.planned[0].workload
    for command in (("status",), ("show", tenant, rtid), ("history", tenant, rtid), ("overdue",)):
        cli(*command, store=url)
    verified = cli("verify", "--checkpoint", failover.checkpoint, store=url)
    assert "intact" in verified.out, verified.out
    return figures
