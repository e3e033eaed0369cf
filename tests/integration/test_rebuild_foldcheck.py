"""The rebuild's fold check, on both backends: a set-based fold that drifts from the
domain's fold in any one value of any workload stops the rebuild before the switch, with a
`RebuildFailed` naming the workload and the column, and the live read model untouched.

Each mutation corrupts what the SQL fold produced (`rebuild_after`, the fold of the closed
requests) between the build and the verify step, as a wrong rule in the SQL would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text
from support import engine_for, progress, report, request

from deployledger import Ledger, RebuildFailed
from deployledger.store.readmodel.tables import (
    deployment_attempts,
    lifecycle_events,
    projection_tracking,
    workload_history,
    workload_state,
)
from deployledger.store.rebuild import foldcheck
from deployledger.store.rebuild.fold import SetFold

TARGET = "rt-target"
OTHERS = ("rt-a", "rt-b")
LIVE = (workload_state, deployment_attempts, lifecycle_events, workload_history)


def at(second: int) -> str:
    return f"2026-03-01T10:{second // 60:02d}:{second % 60:02d}.250000+00:00"


def messages() -> list[dict[str, Any]]:
    """Each workload: a request, progress, a success (1 s after its request), a newer
    request, and failures in a row; the target ends with two failures."""
    sent: list[dict[str, Any]] = []
    for n, rt in enumerate((*OTHERS, TARGET)):
        t = 10 * n
        sent += [
            request(rt, chart="web", version="1.0", reportedAt=at(t)),
            progress(rt, reportedAt=at(t + 1)),
            report(rt, success=True, message="ok", reportedAt=at(t + 1)),
            request(rt, chart="web", version="2.0", reportedAt=at(t + 2)),
            report(rt, success=False, message="UPGRADE FAILED: x", reportedAt=at(t + 3)),
            report(rt, success=False, message="UPGRADE FAILED: y", reportedAt=at(t + 4)),
        ]
    return sent


@pytest.fixture
def engine(ready_url: str) -> Iterator[Engine]:
    with engine_for(ready_url) as opened:
        yield opened


def live_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        rows = {t.name: sorted(map(tuple, conn.execute(select(t))), key=repr) for t in LIVE}
        live = projection_tracking.c.name == "read_model"  # `*_next` may stay, as leftovers
        rows["tracking"] = list(map(tuple, conn.execute(select(projection_tracking).where(live))))
    return rows


def corrupt_after_fold(monkeypatch: pytest.MonkeyPatch, change: str, *, last: bool = True) -> None:
    """After the SQL fold, set `change` (SQL) on the target's last event, or on its
    second-to-last (`last=False`, a state only the history keeps)."""
    fold_after = SetFold.fold_after

    def corrupted(self: SetFold) -> None:
        fold_after(self)
        conn: Connection = self.conn
        positions = (
            conn.execute(
                text(
                    "SELECT position FROM rebuild_stage WHERE workload_rt_id = :rt "
                    "ORDER BY position DESC"
                ),
                {"rt": TARGET},
            )
            .scalars()
            .all()
        )
        target = positions[0 if last else 1]
        changed = conn.execute(
            text(f"UPDATE rebuild_after SET {change} WHERE position = :p"), {"p": target}
        ).rowcount
        assert changed == 1

    monkeypatch.setattr(SetFold, "fold_after", corrupted)


MUTATIONS = {
    "consecutive_failures": "consecutive_failures = consecutive_failures + 1",
    "deployed_chart_name": "deployed_chart_name = 'not-the-deployed-chart'",
    "deployed_chart_version": "deployed_chart_version = '9.9.9'",
    "last_duration": "last_duration = last_duration + 0.000001",
}


class TestADriftingFoldStopsTheSwitch:
    @pytest.mark.parametrize("column", list(MUTATIONS))
    def test_one_wrong_value_in_one_workload_is_named_and_the_live_model_is_kept(
        self, ready_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch, column: str
    ) -> None:
        with Ledger.open(ready_url) as ledger:
            ledger.record_many(messages())
            ledger.catch_up()
            before = live_rows(engine)
            fleet = [w.to_json() for w in ledger.workloads()]
            corrupt_after_fold(monkeypatch, MUTATIONS[column])
            with pytest.raises(RebuildFailed) as failed:
                ledger.rebuild()
            assert live_rows(engine) == before
            assert [w.to_json() for w in ledger.workloads()] == fleet
        message = str(failed.value)
        assert TARGET in message
        assert f"column {column}:" in message
        assert "live read model is untouched" in message

    def test_a_wrong_state_only_the_history_keeps_is_caught_by_the_history_digest(
        self, ready_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with Ledger.open(ready_url) as ledger:
            ledger.record_many(messages())
            ledger.catch_up()
            before = live_rows(engine)
            corrupt_after_fold(monkeypatch, MUTATIONS["consecutive_failures"], last=False)
            with pytest.raises(RebuildFailed, match="history consecutive_failures") as failed:
                ledger.rebuild()
            assert live_rows(engine) == before
        assert TARGET in str(failed.value)

    def test_the_same_rebuild_without_the_corruption_switches(
        self, ready_url: str, engine: Engine
    ) -> None:
        with Ledger.open(ready_url) as ledger:
            ledger.record_many(messages())
            ledger.catch_up()
            before = live_rows(engine)
            result = ledger.rebuild()
            after = live_rows(engine)
        assert result.attempts == 3 * len((*OTHERS, TARGET))
        assert after == before
        target = [r for r in after["workload_state"] if TARGET in r]
        assert len(target) == 1


class TestTheFoldBesideTheSql:
    """The Python fold runs in a thread, fed staged rows in batches between the SQL
    statements; tiny batches and little room exercise the waiting on both sides."""

    @pytest.fixture
    def tiny_batches(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(foldcheck, "BATCH", 2)
        monkeypatch.setattr(foldcheck, "PENDING_ROWS", 3)

    @pytest.mark.usefixtures("tiny_batches")
    def test_with_tiny_batches_the_rebuild_switches(self, ready_url: str, engine: Engine) -> None:
        with Ledger.open(ready_url) as ledger:
            ledger.record_many(messages())
            ledger.catch_up()
            before = live_rows(engine)
            ledger.rebuild()
            assert live_rows(engine) == before

    @pytest.mark.usefixtures("tiny_batches")
    def test_with_tiny_batches_a_wrong_value_is_still_caught(
        self, ready_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with Ledger.open(ready_url) as ledger:
            ledger.record_many(messages())
            ledger.catch_up()
            corrupt_after_fold(monkeypatch, MUTATIONS["deployed_chart_version"])
            with pytest.raises(RebuildFailed, match="column deployed_chart_version:"):
                ledger.rebuild()

    def test_an_error_in_the_fold_thread_stops_the_rebuild_and_keeps_the_live_model(
        self, ready_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(events: Iterable[foldcheck.Event], expected: Any = None) -> Any:
            raise ValueError("the fold broke")

        with Ledger.open(ready_url) as ledger:
            ledger.record_many(messages())
            ledger.catch_up()
            before = live_rows(engine)
            monkeypatch.setattr(foldcheck, "fold_events", broken)
            with pytest.raises(ValueError, match="the fold broke"):
                ledger.rebuild()
            assert live_rows(engine) == before
        assert not [t for t in threading.enumerate() if t.name == "deployledger-foldcheck"]
