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


BATCHES = st.lists(st.integers(1, 40), min_size=1, max_size=8)


class TestIncrementalEqualsFromScratch:
    @pytest.mark.slow
    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(records=BATCHES, runner_batches=st.lists(st.integers(1, 25), min_size=1, max_size=4))
    def test_any_batching_gives_the_same_tree(
        self, migrated_url: str, records: list[int], runner_batches: list[int]
    ) -> None:
        if StoreURL.parse(migrated_url).is_postgres:
            run(migrated_url, records, runner_batches)
            return
        with tempfile.TemporaryDirectory() as folder:
            run(migrated_sqlite(Path(folder) / "ledger.db"), records, runner_batches)


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
        with Ledger.open(ready_url) as ledger:
            for chunk in range(8):
                ledger.record_many(
                    report(f"rt-{n % 300}", messageId=f"{chunk}-{n}", success=n % 4 > 0)
                    for n in range(2500)
                )
            total = ledger.max_position()
        kills = 0
        for _ in range(3):
            child = subprocess.Popen([sys.executable, "-c", CATCH_UP, ready_url])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and child.poll() is None:
                rows = execute(ready_url, "SELECT position FROM projection_tracking")
                if rows and 0 < rows[0][0] < total:
                    time.sleep(0.05)  # let it get into its next batch
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
