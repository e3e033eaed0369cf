"""Concurrent writers on one workload: every report stored, attempts contiguous, no conflict.

Threads share one Ledger, or each opens its own (separate caches, as separate replicas
would have). Processes each open their own Ledger ("spawn", so nothing is inherited).
"""

from __future__ import annotations

from support import RT_ID, TENANT, record_in_child, report, run_processes, run_threads

from deployledger import Ledger

THREADS = 8
PER_THREAD = 25


def assert_contiguous(url: str, expected: int) -> None:
    with Ledger.open(url, cache_size=0) as ledger:
        history = ledger.history(TENANT, RT_ID)
        assert sorted(a.attempt for a in history) == list(range(1, expected + 1))
        positions = [a.position for a in history]
        assert positions == sorted(positions, reverse=True)  # attempt order = store order
        times = [a.recorded_at for a in history]
        assert times == sorted(times, reverse=True)  # and = recorded-time order (one host)
        state = ledger.current(TENANT, RT_ID)
        assert state is not None
        assert state.attempts == expected
        assert state.failures == sum(1 for a in history if not a.success)


class TestThreads:
    def test_threads_sharing_one_ledger_store_every_report(
        self, ready_url: str, ledger: Ledger
    ) -> None:
        receipts: list[int] = []

        def work(i: int) -> None:
            for n in range(PER_THREAD):
                attempt = ledger.record(report(messageId=f"{i}-{n}")).attempt
                assert attempt is not None
                receipts.append(attempt)

        assert run_threads(THREADS, work) == []
        total = THREADS * PER_THREAD
        assert sorted(receipts) == list(range(1, total + 1))
        assert_contiguous(ready_url, total)

    def test_threads_with_a_ledger_each_store_every_report(self, ready_url: str) -> None:
        ledgers = [Ledger.open(ready_url) for _ in range(THREADS)]
        receipts: list[int] = []
        try:

            def work(i: int) -> None:
                for n in range(PER_THREAD):
                    attempt = ledgers[i].record(report(messageId=f"{i}-{n}")).attempt
                    assert attempt is not None
                    receipts.append(attempt)

            errors = run_threads(THREADS, work)
        finally:
            for opened in ledgers:
                opened.close()
        assert errors == []
        total = THREADS * PER_THREAD
        assert sorted(receipts) == list(range(1, total + 1))
        assert_contiguous(ready_url, total)

    def test_ledgers_retrying_the_same_message_ids_store_each_report_once(
        self, ready_url: str
    ) -> None:
        ledgers = [Ledger.open(ready_url) for _ in range(3)]
        duplicates: list[bool] = []
        try:

            def work(i: int) -> None:
                for n in range(20):
                    duplicates.append(ledgers[i].record(report(messageId=f"m-{n}")).duplicate)

            errors = run_threads(3, work)
        finally:
            for opened in ledgers:
                opened.close()
        assert errors == []
        assert duplicates.count(False) == 20
        assert_contiguous(ready_url, 20)

    def test_concurrent_batches_on_shared_workloads_stay_contiguous(self, ready_url: str) -> None:
        with Ledger.open(ready_url) as one, Ledger.open(ready_url) as two:
            ledgers = [one, two]

            def work(i: int) -> None:
                for n in range(10):
                    ledgers[i % 2].record_many([report(messageId=f"{i}-{n}-{k}") for k in range(5)])

            assert run_threads(4, work) == []
        assert_contiguous(ready_url, 4 * 10 * 5)


class TestProcesses:
    def test_processes_with_a_ledger_each_store_every_report(self, ready_url: str) -> None:
        assert run_processes(4, record_in_child, ready_url, 25) == []
        assert_contiguous(ready_url, 100)
