"""Long histories: snapshots keep loading cheap, and change nothing a reader can see."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

import psycopg
import pytest
from support import RT_ID, TENANT, report

from deployledger import DeploymentState, Ledger
from deployledger.domain.storeurl import parse_store_url


def snapshot_versions(url: str) -> list[int]:
    """The versions at which snapshots of any workload were stored."""
    if parse_store_url(url).is_postgres:
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT originator_version FROM deployledger_snapshots ORDER BY 1"
            ).fetchall()
    else:
        with closing(sqlite3.connect(parse_store_url(url).path)) as conn:
            rows = conn.execute(
                "SELECT originator_version FROM stored_snapshots ORDER BY 1"
            ).fetchall()
    return [row[0] for row in rows]


def report_number(n: int) -> dict[str, Any]:
    return report(success=n % 4 != 0, statusMessage=f"attempt {n}", messageId=f"m-{n}")


def record_35(url: str) -> None:
    with Ledger.open(url, snapshot_interval=10) as ledger:
        for n in range(1, 36):
            receipt = ledger.record(report_number(n))
            assert receipt.attempt == n


class TestSnapshots:
    def test_snapshots_are_taken_every_interval(self, ready_url: str) -> None:
        record_35(ready_url)
        versions = snapshot_versions(ready_url)
        assert versions
        assert max(versions) >= 30  # the newest snapshot is recent
        assert len(versions) <= 4  # and not one per attempt

    def test_after_reopening_current_and_record_continue_from_the_snapshot(
        self, ready_url: str
    ) -> None:
        record_35(ready_url)
        with Ledger.open(ready_url, snapshot_interval=10, cache_size=0) as ledger:
            state = ledger.current(TENANT, RT_ID)
            assert state is not None
            assert (state.attempts, state.failures, state.consecutive_failures) == (35, 8, 0)
            assert (state.state, state.status_message) == (DeploymentState.DEPLOYED, "attempt 35")
            history = ledger.history(TENANT, RT_ID)
            assert [a.attempt for a in history] == list(range(35, 0, -1))
            assert state.last_attempt_at == history[0].recorded_at
            assert state.last_failure_at == history[3].recorded_at  # attempt 32
            receipt = ledger.record(report(success=False, statusMessage="attempt 36"))
            assert (receipt.attempt, receipt.duplicate) == (36, False)
            assert ledger.record(report(messageId="m-37")).attempt == 37
        with Ledger.open(ready_url, cache_size=0) as ledger:
            assert [a.attempt for a in ledger.history(TENANT, RT_ID, limit=3)] == [37, 36, 35]

    def test_message_ids_from_before_the_snapshot_are_still_duplicates(
        self, ready_url: str
    ) -> None:
        record_35(ready_url)
        with Ledger.open(ready_url, snapshot_interval=10, cache_size=0) as ledger:
            for n in (1, 9, 10, 11, 29, 35):
                again = ledger.record(report_number(n))
                assert (again.duplicate, again.attempt) == (True, n)
            state = ledger.current(TENANT, RT_ID)
            assert state is not None
            assert state.attempts == 35

    def test_a_snapshot_folded_under_older_fold_rules_is_not_used(
        self, ready_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from deployledger.domain.workload.fold import FOLD_RULES
        from deployledger.store.events import compat

        used: list[Any] = []
        original = compat.replay

        def spy(snapshot: Any, events: Any, aggregate: Any = None) -> Any:
            used.append(snapshot)
            return original(snapshot, events, aggregate)

        monkeypatch.setattr(compat, "FOLD_RULES", FOLD_RULES - 1)
        record_35(ready_url)  # snapshots stamped with the older rules
        monkeypatch.undo()
        monkeypatch.setattr(compat, "replay", spy)
        with Ledger.open(ready_url, snapshot_interval=10, cache_size=0) as ledger:
            state = ledger.current(TENANT, RT_ID)
            assert state is not None
            assert state.attempts == 35
            assert used == [None]  # every event replayed
            for n in range(36, 46):  # crosses an interval: a snapshot under the current rules
                ledger.record(report_number(n))
        used.clear()
        with Ledger.open(ready_url, snapshot_interval=10, cache_size=0) as ledger:
            assert ledger.current(TENANT, RT_ID) is not None
        assert used
        assert used[0] is not None
        assert used[0].state["fold_rules"] == FOLD_RULES
