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

Both servers are private clusters (devtools/replicated_postgres.py); the shared one is never
touched.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from failover_support import (
    CLIENTS,
    Failover,
    acked,
    check_failover,
    failover_load,
    positions,
    publish_checkpoint,
    wait_until,
)
from http_harness import (
    Load,
    Service,
    admin_token,
    plan_load,
    read_stored,
    require,
    run_load,
    running,
)
from support import Cli

from deployledger import Ledger
from devtools.private_postgres import unavailable
from devtools.replicated_postgres import ReplicatedPair

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]

DOWN = 1.0  # seconds between the kill and the promotion (a failover manager's detection)


def replicated(*, synchronous: bool) -> Iterator[ReplicatedPair]:
    require(unavailable(), "private PostgreSQL clusters")
    with ReplicatedPair.start(synchronous=synchronous) as pair:
        yield pair


@pytest.fixture
def sync_pair() -> Iterator[ReplicatedPair]:
    yield from replicated(synchronous=True)


@pytest.fixture
def async_pair() -> Iterator[ReplicatedPair]:
    yield from replicated(synchronous=False)


def test_a_failover_to_a_synchronous_standby_loses_no_acknowledged_report(
    sync_pair: ReplicatedPair, cli: Cli, tmp_path: Path
) -> None:
    pair = sync_pair
    url = pair.create_database("ledger")
    cli("migrate", store=url)
    token = admin_token(url)
    new_primary = pair.standby.url("ledger")

    def fail(failover: Failover) -> None:
        failover.killed = pair.kill_primary()
        time.sleep(DOWN)
        failover.promote_took = pair.promote()
        failover.promoted = time.monotonic()

    load, failover, service = failover_load(url, new_primary, token, cli, tmp_path, fail, seed=21)
    figures = check_failover(url, new_primary, pair.standby.port, load, failover, service, cli)
    print(
        f"failover: unavailable {figures.unavailable:.2f} s (last commit acknowledged before "
        f"the kill -> first after it); promotion took {figures.promote_took:.2f} s; "
        f"acknowledged lost {figures.lost}, duplicates {figures.duplicates}; the follower "
        f"caught up {figures.caught_up:.2f} s after the promotion"
    )


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
