"""Failover (issue 21, section 2): a primary with one streaming standby, `serve --workers 2`
on the multi-host URL `postgresql://...@primary,standby/ledger?target_session_attrs=read-write`,
and 20 clients posting reports with Idempotency-Key, retrying on 503 or a broken connection.
In the middle of the load the primary's postmaster gets SIGKILL and the standby is promoted
(`pg_ctl promote`); nobody restarts `serve`.

- **Synchronous standby:** every acknowledged report is on the new primary exactly once,
  nothing unsent is stored, the read model equals a rebuild, `verify` is intact against a
  checkpoint published before the failover, and the reads of `make run` work. Printed: the
  unavailability window, acknowledged lost, duplicates, and the follower's catch-up time.
- **Asynchronous standby** whose stream was cut (a standby that lags, deterministically):
  acknowledged reports **are** lost by the failover, the test counts them, and `verify`
  against the checkpoint published before the kill exits 1, naming the first missing entry.

Both servers are private clusters (tests/replicated_postgres.py); the shared one is never
touched.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from http_harness import (
    IN_CI,
    Load,
    Service,
    admin_token,
    check_stored,
    plan_load,
    read_stored,
    run_load,
    running,
)
from private_postgres import unavailable
from replicated_postgres import ReplicatedPair
from support import Cli, every_attempt

from deployledger import Ledger

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]

REPORTS = 3_000  # over 120 workloads, from 20 clients
CLIENTS = 20
DOWN = 1.0  # seconds between the kill and the promotion (a failover manager's detection)
WINDOW_LIMIT = 30.0  # seconds from the kill to the first 2xx after it


def replicated(*, synchronous: bool) -> Iterator[ReplicatedPair]:
    reason = unavailable()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI=true requires private PostgreSQL clusters: {reason}", pytrace=False)
        pytest.skip(reason)
    with ReplicatedPair.start(synchronous=synchronous) as pair:
        yield pair


@pytest.fixture
def sync_pair() -> Iterator[ReplicatedPair]:
    yield from replicated(synchronous=True)


@pytest.fixture
def async_pair() -> Iterator[ReplicatedPair]:
    yield from replicated(synchronous=False)


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
    pair: ReplicatedPair,
    url: str,
    token: str,
    cli: Cli,
    tmp_path: Path,
    *,
    seed: int,
) -> tuple[Load, Failover, Service]:
    """Run the load through a kill of the primary and a promotion of the standby."""
    plans = plan_load(REPORTS, 120, CLIENTS, seed=seed, prefix=f"failover-{seed}")
    failover = Failover()
    new_primary = pair.standby.url("ledger")

    def faults(load: Load) -> None:
        wait_until(lambda: acked(load) >= 600, "600 acknowledged reports")
        publish_checkpoint(cli, url, tmp_path, failover)
        floor = acked(load) + 300
        wait_until(lambda: acked(load) >= floor, "300 more after the checkpoint")
        failover.killed = pair.kill_primary()
        time.sleep(DOWN)
        failover.promote_took = pair.promote()
        failover.promoted = time.monotonic()
        failover.events_at_promotion = positions(new_primary)[1]

        def caught_up() -> bool:
            return positions(new_primary)[0] >= failover.events_at_promotion

        wait_until(caught_up, "the follower to catch up on the new primary")
        failover.caught_up = time.monotonic() - failover.promoted

    service = Service(url, tmp_path, workers=2)
    with running(service):
        load = run_load(service.url, token, plans, retry=True, during=faults)
        ready = httpx.get(service.url + "/readyz", timeout=10).json()
        failover.notes.append(f"/readyz after: {ready}")
    return load, failover, service


def test_a_failover_to_a_synchronous_standby_loses_no_acknowledged_report(
    sync_pair: ReplicatedPair, cli: Cli, tmp_path: Path
) -> None:
    pair = sync_pair
    url = pair.create_database("ledger")
    cli("migrate", store=url)
    token = admin_token(url)
    load, failover, service = failover_load(pair, url, token, cli, tmp_path, seed=21)
    print(load.summary())
    assert not load.errors, load.errors[:5]
    statuses = {a.status for a in load.answers}
    assert statuses <= {0, 200, 201, 503}, (statuses, [a for a in load.server_errors()][:3])
    assert "Traceback" not in service.log(), service.log()[-3000:]

    # Every acknowledged report is on the new primary exactly once; nothing unsent is there.
    new_primary = pair.standby.url("ledger")
    stored = check_stored(new_primary, load)
    acknowledged = load.acknowledged()
    lost = [p.key for p in load.planned if p.index in acknowledged and p.key not in stored.by_key]
    duplicates = sum(1 for v in stored.by_key.values() if len(v) > 1)
    unavailable_for = window(load, failover.killed)
    print(
        f"failover: unavailable {unavailable_for:.2f} s (last commit acknowledged before the "
        f"kill -> first after it); promotion took {failover.promote_took:.2f} s; acknowledged lost "
        f"{len(lost)}, duplicates {duplicates}; the follower caught up "
        f"{failover.caught_up:.2f} s after the promotion"
    )
    assert (len(lost), duplicates) == (0, 0)
    assert unavailable_for < WINDOW_LIMIT
    assert "'serverRole': 'primary'" in failover.notes[0], failover.notes
    assert f":{pair.standby.port}'" in failover.notes[0], failover.notes

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
        assert (server.port, server.primary) == (pair.standby.port, True)
    tenant, rtid = load.planned[0].workload
    for command in (("status",), ("show", tenant, rtid), ("history", tenant, rtid), ("overdue",)):
        cli(*command, store=url)
    verified = cli("verify", "--checkpoint", failover.checkpoint, store=url)
    assert "intact" in verified.out, verified.out


def test_a_failover_to_an_asynchronous_standby_can_lose_acknowledged_reports_and_verify_says_so(
    async_pair: ReplicatedPair, cli: Cli, tmp_path: Path
) -> None:
    pair = async_pair
    url = pair.create_database("ledger")
    cli("migrate", store=url)
    token = admin_token(url)
    primary, new_primary = pair.primary.url("ledger"), pair.standby.url("ledger")
    plans = plan_load(1_500, 60, CLIENTS, seed=22, prefix="async")

    def lagging_standby(load: Load) -> None:
        # The standby stops receiving (its stream is cut, as by a partition or a slow
        # link); the primary acknowledges on, as an asynchronous primary does.
        wait_until(lambda: acked(load) >= 600, "600 acknowledged reports")
        pair.cut_stream()

    service = Service(url, tmp_path, workers=2)
    failover = Failover()
    with running(service):
        load = run_load(service.url, token, plans, retry=True, during=lagging_standby)
        # The follower logs every report; the checkpoint published now covers them all.
        wait_until(lambda: positions(primary)[0] >= positions(primary)[1] > 0, "the follower")
        publish_checkpoint(cli, url, tmp_path, failover)
        pair.kill_primary()
        time.sleep(DOWN)
        pair.promote()
        wait_until(
            lambda: httpx.get(service.url + "/readyz", timeout=10).status_code == 200,
            "serve to be ready on the new primary",
        )
    print(load.summary())
    assert not load.errors, load.errors[:5]
    assert {a.status for a in load.answers} <= {0, 200, 201, 503}
    acknowledged = load.acknowledged()
    assert len(acknowledged) == 1_500
    stored = read_stored(new_primary, {p.workload for p in load.planned})
    lost = [p.key for p in load.planned if p.key not in stored.by_key]
    duplicates = sum(1 for v in stored.by_key.values() if len(v) > 1)
    print(
        f"asynchronous failover: acknowledged lost {len(lost)} of {len(acknowledged)}, "
        f"duplicates {duplicates}"
    )
    assert lost, "no acknowledged report was lost: the standby did not lag"
    assert duplicates == 0

    # The loss is detected, never silent: verify against the checkpoint published before
    # the kill exits 1 and names the first missing log entry.
    logged = positions(new_primary)
    done = cli("verify", "--checkpoint", failover.checkpoint, store=url, expect=1)
    said = done.out + done.err
    found = re.search(r"the first missing is log entry (\d+) of (\d+)", said)
    assert found is not None, said
    with Ledger.open(url) as ledger:
        kept = ledger.log.verify().size
    assert int(found.group(1)) == kept + 1, (said, kept, logged)
    assert int(found.group(2)) == failover.checkpoint_size
    print(said.strip().splitlines()[:8])
