"""The set-based rebuild (issue 12) equals the incremental projection, on both backends.

For any sequence of lifecycle messages (requests, progress, outcomes, undeploys) over a
few workloads, with messages holding NUL, astral characters and 200 KB of text, and report
times in several zones, every row of the five read-model tables that the live runner
wrote event by event is the row the SQL fold writes, byte for byte, in any chunk size.
Only the events SQL cannot decode exactly (NUL, a zone other than UTC) take the Python
fallback, and the failure fields are the same when the classifier's thread computes them.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from steps import record_in_chunks, steps
from support import engine_for, event_store, migrated_sqlite, report

from deployledger import Ledger
from deployledger.domain.storeurl import parse_store_url
from deployledger.store.database import make_engine
from deployledger.store.readmodel.tables import (
    deployment_attempts,
    lifecycle_events,
    workload_history,
    workload_pools,
    workload_state,
)
from deployledger.store.rebuild import classify
from deployledger.store.rebuild import stage as setstage
from deployledger.store.rebuild.bluegreen import rebuild

BIG = "Error: UPGRADE FAILED: " + "x" * 200_000 + "\x00 tail"
STEP = steps(BIG, "helm upgrade --install api ./c failed with exit code 1. stderr: 𝄞 boom")
SCENARIO = st.tuples(
    st.lists(STEP, min_size=1, max_size=25),
    st.lists(st.integers(1, 6), min_size=1, max_size=6),  # record_many chunk sizes
    st.integers(1, 40),  # the rebuild's position-ranged chunk
)
SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TABLES = (workload_state, deployment_attempts, lifecycle_events, workload_history, workload_pools)
Rows = dict[str, list[tuple[Any, ...]]]


def all_rows(engine: Engine) -> Rows:
    with engine.connect() as conn:
        return {
            t.name: sorted((tuple(r) for r in conn.execute(select(t))), key=repr) for t in TABLES
        }


def rebuilt_equals_live(url: str, tenant: str, scenario: tuple[Any, list[int], int]) -> None:
    steps_, sizes, chunk = scenario
    with Ledger.open(url, create=True) as ledger:
        record_in_chunks(ledger, tenant, steps_, sizes)
        ledger.catch_up()
        with engine_for(url) as engine:
            live = all_rows(engine)
            result = rebuild(event_store(ledger), engine, batch_size=chunk)
            assert all_rows(engine) == live
    assert result.position == max(r[0] for r in live["workload_history"])


class TestTheSetBasedRebuild:
    @SETTINGS
    @given(scenario=SCENARIO)
    def test_every_row_equals_the_incremental_projections(
        self, ready_url: str, scenario: tuple[Any, list[int], int]
    ) -> None:
        if ready_url.startswith("postgresql"):
            rebuilt_equals_live(ready_url, f"tenant-{uuid.uuid4().hex[:10]}", scenario)
            return
        with tempfile.TemporaryDirectory() as folder:
            rebuilt_equals_live(migrated_sqlite(Path(folder) / "ledger.db"), "tenant", scenario)


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The positions of the events the Python fallback staged."""
    seen: list[int] = []
    original = setstage.stage_row

    def counted(record: Any) -> dict[str, Any]:
        seen.append(record.position)
        return original(record)

    monkeypatch.setattr(setstage, "stage_row", counted)
    return seen


def test_only_nul_and_other_zones_take_the_python_fallback(
    store_url: str, fallbacks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(setstage, "FALLBACK_BATCH", 1)  # one event decoded at a time
    with Ledger.open(store_url, create=True) as ledger:
        plain = ledger.record(report("rt-a", success=False, message="Error: timed out\x1b[0m"))
        nul = ledger.record(report("rt-a", success=False, message="a\x00b"))
        zoned = ledger.record(report("rt-b", reportedAt="2026-11-01T10:00:00.5+05:30"))
        utc = ledger.record(report("rt-b", reportedAt="2026-11-01T10:00:00Z"))
        ledger.catch_up()
        with engine_for(store_url) as engine:
            live = all_rows(engine)
            ledger.rebuild()
            assert all_rows(engine) == live
    assert plain.position not in fallbacks
    assert utc.position not in fallbacks
    assert sorted(fallbacks) == [nul.position, zoned.position]


def test_failure_fields_from_the_classifier_thread_are_the_same(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(classify, "POOL_AFTER", 0)
    monkeypatch.setattr(setstage, "BATCH", 7)
    messages = [
        "Error: UPGRADE FAILED: timed out waiting for the condition",
        "helm upgrade --install api ./c failed with exit code 2. stderr: Error: no such host",
        "Error: INSTALLATION FAILED: cannot re-use a name that is still in use",
        "",
    ]
    with Ledger.open(store_url, create=True) as ledger:
        ledger.record_many(
            [
                report(f"rt-{n % 9}", success=n % 3 == 0, message=messages[n % 4] + str(n))
                for n in range(120)
            ]
        )
        ledger.catch_up()
        with engine_for(store_url) as engine:
            live = all_rows(engine)
            assert sum(1 for r in live["deployment_attempts"] if r[-2] is not None) == 80
            ledger.rebuild()
            assert all_rows(engine) == live


def test_a_read_model_in_another_database_is_rebuilt_by_the_runner(tmp_path: Path) -> None:
    events_url = f"sqlite:///{tmp_path / 'events.db'}"
    with Ledger.open(events_url, create=True) as ledger:
        ledger.record_many([report(f"rt-{n}", message="a\x00b" if n else None) for n in range(5)])
        other = make_engine(parse_store_url(f"sqlite:///{tmp_path / 'read.db'}"))
        try:
            from deployledger.store.database import migrate

            migrate(parse_store_url(f"sqlite:///{tmp_path / 'read.db'}"), other)
            result = rebuild(event_store(ledger), other)
            assert result.attempts == 5
            assert len(all_rows(other)["workload_history"]) == 5
        finally:
            other.dispose()


def test_an_old_sqlite_is_rebuilt_by_the_runner_with_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fallbacks: list[int]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.open(url, create=True) as ledger:
        ledger.record_many([report(f"rt-{n % 3}", message=f"a\x00{n}") for n in range(12)])
        ledger.catch_up()
        with engine_for(url) as engine:
            live = all_rows(engine)
            monkeypatch.setattr(
                "deployledger.store.rebuild.bluegreen.sqlite3.sqlite_version_info", (3, 37)
            )
            ledger.rebuild()
            assert all_rows(engine) == live
    assert fallbacks == []  # nothing was staged (NUL would be): the runner replayed the events


def test_the_usual_rebuild_does_not_replay_through_the_runner(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deployledger.store.readmodel.runner import ProjectionRunner

    with Ledger.open(store_url, create=True) as ledger:
        ledger.record_many([report(f"rt-{n % 3}", success=n % 2 == 0) for n in range(12)])
        ledger.catch_up()

        def refuse(*_: Any, **__: Any) -> int:
            raise AssertionError("the rebuild replayed events through the runner")

        monkeypatch.setattr(ProjectionRunner, "catch_up", refuse)
        assert ledger.rebuild().attempts == 12


def test_a_threaded_process_classifies_in_a_thread_with_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(classify, "POOL_AFTER", 0)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    halt = threading.Event()
    other = threading.Thread(target=halt.wait, daemon=True)  # forking now could deadlock
    other.start()
    try:
        assert isinstance(classify._workers(), ThreadPoolExecutor)
        with Ledger.open(url, create=True) as ledger:
            ledger.record_many(
                [report(f"rt-{n % 4}", success=False, message=f"Error: boom {n}") for n in range(9)]
            )
            ledger.catch_up()
            with engine_for(url) as engine:
                live = all_rows(engine)
                ledger.rebuild()
                assert all_rows(engine) == live
    finally:
        halt.set()
        other.join()
