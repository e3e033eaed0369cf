"""The log the projection runner keeps incrementally equals one computed from scratch, in any
batching, and survives the follower being killed mid-batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from logsupport import event_rows, execute, leaf_hashes_from_rows, root_from_rows
from support import engine_for, migrated_sqlite, projection_runner, report

from deployledger import Ledger
from deployledger.domain.storeurl import StoreURL
from deployledger.domain.tlog.merkle import Frontier


def stored_log(url: str) -> tuple[int, int, bytes, list[tuple[int, int, bytes]]]:
    """(size, position, root from the stored frontier, the leaf rows)."""
    state = execute(url, "SELECT size, position, frontier FROM log_state")
    leaves = execute(url, "SELECT leaf_index, position, leaf_hash FROM log_leaves ORDER BY 1")
    if not state:
        return 0, 0, Frontier().root(), []
    size, position, frontier = state[0]
    root = Frontier.from_bytes(size, bytes(frontier)).root()
    return size, position, root, [(i, p, bytes(h)) for i, p, h in leaves]


def assert_log_matches_the_events(url: str) -> None:
    size, position, root, leaves = stored_log(url)
    rows = [r for r in event_rows(url) if r[0] <= position]
    assert size == len(rows)
    assert root == root_from_rows(rows)
    assert [(i, p) for i, p, _ in leaves] == [(i, r[0]) for i, r in enumerate(rows)]
    assert [h for _, _, h in leaves] == leaf_hashes_from_rows(rows)


BATCHES = st.lists(st.integers(1, 40), min_size=1, max_size=6)
RUNNER_BATCHES = st.lists(st.integers(1, 25), min_size=1, max_size=4)
# Each example on PostgreSQL is several round trips a turn: fewer there than on SQLite.
EXAMPLES = {"sqlite": 20, "postgres": 8}


class TestIncrementalEqualsFromScratch:
    @pytest.mark.slow
    def test_any_batching_gives_the_same_tree(self, migrated_url: str) -> None:
        postgres = StoreURL.parse(migrated_url).is_postgres

        @settings(
            max_examples=EXAMPLES["postgres" if postgres else "sqlite"],
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(records=BATCHES, runner_batches=RUNNER_BATCHES)
        def check(records: list[int], runner_batches: list[int]) -> None:
            if postgres:
                run(migrated_url, records, runner_batches)
                return
            with tempfile.TemporaryDirectory() as folder:
                run(migrated_sqlite(Path(folder) / "ledger.db"), records, runner_batches)

        check()


def run(url: str, records: list[int], runner_batches: list[int]) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    with Ledger.open(url, create=True) as ledger, engine_for(url) as engine:
        for turn, count in enumerate(records):
            ledger.record_many(
                report(f"rt-{n % 5}", tenant=tenant, messageId=f"{turn}-{n}", success=n % 3 > 0)
                for n in range(count)
            )
            batch = runner_batches[turn % len(runner_batches)]
            projection_runner(ledger, engine, batch_size=batch).catch_up(
                until=ledger.max_position() - (turn % 2)  # sometimes stop short
            )
            assert_log_matches_the_events(url)
        ledger.catch_up()
        assert_log_matches_the_events(url)
        assert ledger.log.checkpoint().checkpoint.root == root_from_rows(event_rows(url))


CATCH_UP = (
    "import sys\n"
    "from deployledger import Ledger\n"
    "with Ledger.open(sys.argv[1]) as ledger:\n"
    "    ledger.catch_up()\n"
)


@pytest.mark.slow
class TestKilledFollower:
    def test_sigkill_mid_catch_up_leaves_a_log_that_resumes_exactly(self, ready_url: str) -> None:
        # About five batches of the runner (2,000 events each): three killed, then the rest.
        with Ledger.open(ready_url) as ledger:
            for chunk in range(5):
                ledger.record_many(
                    report(f"rt-{n % 300}", messageId=f"{chunk}-{n}", success=n % 4 > 0)
                    for n in range(2000)
                )
            total = ledger.max_position()
        kills = 0
        for _ in range(3):
            before = tracked(ready_url)
            child = subprocess.Popen([sys.executable, "-c", CATCH_UP, ready_url])
            deadline = time.monotonic() + 60
            # Once this child has committed a batch of its own, it is into its next one.
            while time.monotonic() < deadline and child.poll() is None:
                if before < tracked(ready_url) < total:
                    time.sleep(0.05)  # not a wait: lets it get into that batch's writes
                    os.kill(child.pid, signal.SIGKILL)
                    kills += 1
                    break
                time.sleep(0.01)
            child.wait(timeout=30)
            assert_log_matches_the_events(ready_url)
        assert kills >= 1
        with Ledger.open(ready_url) as ledger:
            ledger.catch_up()
            assert ledger.log.verify().intact
        assert_log_matches_the_events(ready_url)
        assert stored_log(ready_url)[0] == len(event_rows(ready_url))


def tracked(url: str) -> int:
    """The position the projection runner has committed (0 before its first batch)."""
    rows = execute(url, "SELECT position FROM projection_tracking")
    return int(rows[0][0]) if rows else 0
