"""Zero-downtime rebuild (issue 3, section 2), on both backends.

Readers polling the fleet and the audit trail during rebuilds always get the complete
answer; writes arriving during a rebuild are all in the switched view; an interrupted
rebuild leaves the live view untouched. (The `rebuild` command: tests/e2e.)
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine, inspect
from support import engine_for, every_attempt, reports, view_rows

from deployledger import Ledger, Receipt

WORKLOADS = 300
ATTEMPTS = 3000

# For `reports()`: report n is for one of 300 workloads of three tenants, in one of four
# pools or none; one in four fails.
MIX: dict[str, Any] = {
    "rtid": lambda n, _: f"rt-{n % WORKLOADS:04d}",
    "tenant": lambda n, _: f"tenant-{n % 3}",
    "pool": lambda n, _: f"pool-{n % 4}" if n % 5 else None,
    "success": lambda n, _: n % 4 != 0,
    "message": lambda n, _: f"attempt {n}: " + ("ok" if n % 4 else "UPGRADE FAILED"),
}


def fill(ledger: Ledger, count: int = ATTEMPTS) -> list[Receipt]:
    receipts: list[Receipt] = []
    for start in range(0, count, 500):
        receipts += ledger.record_many(reports(500, first=start, **MIX))
    return receipts


def leftover_tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
    return {n for n in names if n.endswith(("_next", "_prev"))}


class Reader:
    """A thread with a Ledger of its own, polling `workloads()` and `audit(limit=50)`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.halt = threading.Event()
        self.answers: list[tuple[float, float, list[Any], list[Any]]] = []
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with Ledger.open(self.url) as ledger:
                while not self.halt.is_set():
                    started = time.monotonic()
                    fleet = [w.to_json() for w in ledger.workloads()]
                    page = [a.to_audit_json() for a in ledger.audit(limit=50).items]
                    self.answers.append((started, time.monotonic(), fleet, page))
        except BaseException as e:
            self.errors.append(e)


class TestRebuildUnderConcurrentReads:
    def test_readers_polling_during_rebuilds_always_get_the_complete_answer(
        self, migrated_url: str
    ) -> None:
        with Ledger.open(migrated_url, create=True) as ledger:
            fill(ledger)
            ledger.catch_up()
            fleet = [w.to_json() for w in ledger.workloads()]
            page = [a.to_audit_json() for a in ledger.audit(limit=50).items]
            assert len(fleet) == WORKLOADS
            assert len(page) == 50

            readers = [Reader(migrated_url) for _ in range(2)]
            for reader in readers:
                reader.thread.start()
            windows: list[tuple[float, float]] = []
            try:
                deadline = time.monotonic() + 30
                while not all(r.answers for r in readers) and time.monotonic() < deadline:
                    time.sleep(0.01)
                for _ in range(5):
                    started = time.monotonic()
                    result = ledger.rebuild()
                    windows.append((started, time.monotonic()))
                    assert (result.workloads, result.attempts) == (WORKLOADS, ATTEMPTS)
            finally:
                for reader in readers:
                    reader.halt.set()
                    reader.thread.join(timeout=60)

        answers = [a for r in readers for a in r.answers]
        assert [e for r in readers for e in r.errors] == []
        for start, end in windows:  # every rebuild really ran under reads
            assert any(a[0] < end and a[1] > start for a in answers)
        for _, _, got_fleet, got_page in answers:
            assert len(got_fleet) == WORKLOADS
            assert len(got_page) == 50
            assert got_fleet == fleet
            assert got_page == page


class TestRebuildSwitch:
    def test_reports_recorded_during_a_rebuild_are_all_in_the_switched_view(
        self, migrated_url: str
    ) -> None:
        with Ledger.open(migrated_url, create=True) as ledger:
            receipts = fill(ledger, 1500)
            ledger.catch_up()
            halt = threading.Event()
            errors: list[BaseException] = []

            def write() -> None:
                try:
                    with Ledger.open(migrated_url) as writer:
                        number = 10_000
                        while not halt.is_set():
                            receipts.append(
                                writer.record(
                                    reports(1, first=number, **MIX | {"tenant": "late"})[0]
                                )
                            )
                            number += 1
                except BaseException as e:
                    errors.append(e)

            thread = threading.Thread(target=write, daemon=True)
            thread.start()
            try:
                while len(receipts) < 1510:
                    time.sleep(0.005)
                for _ in range(2):
                    ledger.rebuild()
            finally:
                halt.set()
                thread.join(timeout=60)
            assert errors == []
            ledger.catch_up()
            late = every_attempt(ledger, tenant_id="late")

            with engine_for(migrated_url) as engine:
                live = view_rows(engine)
                ledger.rebuild()
                assert view_rows(engine) == live
                assert leftover_tables(engine) == set()

        assert len(receipts) > 1510
        assert sorted(row[0] for row in live[1]) == sorted(r.position for r in receipts)
        assert len(late) == len(receipts) - 1500

    def test_an_interrupted_rebuild_leaves_the_live_view_untouched(self, migrated_url: str) -> None:
        class Interrupted(Exception):
            pass

        def interrupt(done: int, position: int) -> None:
            raise Interrupted(f"stopped after {done} events at {position}")

        with Ledger.open(migrated_url, create=True) as ledger:
            fill(ledger, 1000)
            ledger.catch_up()
            with engine_for(migrated_url) as engine:
                before = view_rows(engine)
                fleet = [w.to_json() for w in ledger.workloads()]

                with pytest.raises(Interrupted):
                    ledger.rebuild(progress=interrupt)

                assert view_rows(engine) == before
                assert [w.to_json() for w in ledger.workloads()] == fleet
                assert leftover_tables(engine) == {
                    "workload_state_next",
                    "deployment_attempts_next",
                    "lifecycle_events_next",
                    "workload_history_next",
                    "workload_pools_next",
                }
                receipt = ledger.record(reports(1, first=5000, **MIX)[0])
                assert ledger.audit(limit=1).items[0].position == receipt.position

                result = ledger.rebuild()
                assert result.attempts == 1001
                assert leftover_tables(engine) == set()
                assert len(view_rows(engine)[1]) == 1001
