"""Automatic failover (issue 21, section 3): the same load as the synchronous test of
test_failover.py (20 clients through `serve --workers 2` on the multi-host URL with
target_session_attrs=read-write), on a pg_auto_failover formation (tests/auto_failover.py):
a monitor and two data nodes, the secondary synchronous (pg_auto_failover's default for two
nodes). In the middle of the load the primary's machine is lost (SIGKILL of its pg_autoctl
and its postmaster); the monitor promotes the secondary. Nobody calls `pg_ctl promote`, and
nobody restarts `serve`.

Checked as in the synchronous test: every acknowledged report is on the new primary exactly
once, nothing unsent is stored, the read model equals a rebuild, `verify` is intact against
a checkpoint published before the failover, the reads of `make run` work. Printed: the
unavailability window, acknowledged lost, duplicates, the time from the kill to the
promotion by the monitor, and the follower's catch-up time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from auto_failover import Formation, unavailable
from failover_support import Failover, check_failover, failover_load
from http_harness import admin_token, require
from support import Cli

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(400)]


@pytest.fixture
def formation() -> Iterator[Formation]:
    require(unavailable(), "pg_auto_failover")
    with Formation.start() as made:
        made.tune()
        yield made


def test_the_monitor_promotes_the_synchronous_secondary_and_no_acknowledged_report_is_lost(
    formation: Formation, cli: Cli, tmp_path: Path
) -> None:
    print(formation.show("settings"))
    assert "ANY 1 (pgautofailover_standby_" in formation.show("settings")
    url = formation.url("ledger")
    cli("migrate", store=url)
    token = admin_token(url)
    old = formation.primary()
    new = next(n for n in formation.nodes if n is not old)

    def fail(failover: Failover) -> None:
        failover.killed = formation.kill(old)
        _, failover.promoted = formation.wait_promoted(old)
        failover.promote_took = failover.promoted - failover.killed

    try:
        load, failover, service = failover_load(
            url, new.url("ledger"), token, cli, tmp_path, fail, seed=23
        )
    except BaseException:
        print(formation.diagnose())
        raise
    print(formation.show("state"))
    figures = check_failover(url, new.url("ledger"), new.port, load, failover, service, cli)
    print(
        f"automatic failover: unavailable {figures.unavailable:.2f} s (last commit "
        f"acknowledged before the kill -> first after it); acknowledged lost {figures.lost}, "
        f"duplicates {figures.duplicates}; the monitor promoted {new.name} "
        f"{figures.promote_took:.2f} s after the kill; the follower caught up "
        f"{figures.caught_up:.2f} s after the promotion"
    )
