"""Idempotency: a report whose messageId was already recorded for its workload is not stored."""

from __future__ import annotations

import pytest
from support import RT_ID, TENANT, report

from deployledger import DeploymentState, IdempotencyConflict, Ledger


class TestDuplicates:
    def test_the_same_message_id_again_is_a_duplicate_of_the_original(self, ledger: Ledger) -> None:
        original = ledger.record(report(messageId="m-1", success=False, statusMessage="boom"))
        ledger.record(report(messageId="m-2"))
        again = ledger.record(report(messageId="m-1", success=False, statusMessage="boom"))
        assert again.duplicate is True
        assert (again.attempt, again.position, again.recorded_at, again.state) == (
            original.attempt,
            original.position,
            original.recorded_at,
            DeploymentState.ERROR,
        )
        assert (again.tenant_id, again.workload_rt_id) == (TENANT, RT_ID)

    def test_a_duplicate_stores_nothing(self, ledger: Ledger) -> None:
        ledger.record(report(messageId="m-1"))
        position = ledger.max_position()
        ledger.record(report(messageId="m-1"))
        ledger.record(report(messageId="m-1"))
        assert ledger.max_position() == position
        assert len(ledger.history(TENANT, RT_ID)) == 1
        state = ledger.current(TENANT, RT_ID)
        assert state is not None
        assert state.attempts == 1

    def test_the_same_message_id_with_other_content_is_a_conflict_not_a_duplicate(
        self, ledger: Ledger
    ) -> None:
        ledger.record(report(messageId="m-1", success=True, statusMessage="ok"))
        with pytest.raises(IdempotencyConflict, match="already recorded as attempt 1"):
            ledger.record(report(messageId="m-1", success=False, statusMessage="different"))
        [item] = ledger.history(TENANT, RT_ID)
        assert item.status_message == "ok"

    def test_the_next_new_report_continues_the_attempt_numbers(self, ledger: Ledger) -> None:
        ledger.record(report(messageId="a"))
        ledger.record(report(messageId="a"))
        assert ledger.record(report(messageId="b")).attempt == 2

    def test_reports_without_a_message_id_are_never_duplicates(self, ledger: Ledger) -> None:
        receipts = [ledger.record(report()) for _ in range(3)]
        assert [(r.attempt, r.duplicate) for r in receipts] == [(1, False), (2, False), (3, False)]

    def test_the_same_message_id_on_another_workload_is_not_a_duplicate(
        self, ledger: Ledger
    ) -> None:
        ledger.record(report(messageId="m-1"))
        other_workload = ledger.record(report(messageId="m-1", workloadRtId="other"))
        other_tenant = ledger.record(report(messageId="m-1", tenantId="t2"))
        assert (other_workload.duplicate, other_workload.attempt) == (False, 1)
        assert (other_tenant.duplicate, other_tenant.attempt) == (False, 1)

    def test_an_old_message_id_is_still_a_duplicate_after_many_later_attempts(
        self, ledger: Ledger
    ) -> None:
        ledger.record(report(messageId="first"))
        ledger.record_many([report(messageId=f"m-{n}") for n in range(300)])
        again = ledger.record(report(messageId="first"))
        assert (again.duplicate, again.attempt) == (True, 1)


class TestDuplicatesAcrossLedgers:
    def test_a_duplicate_is_recognised_after_reopening(self, ready_url: str) -> None:
        with Ledger.open(ready_url) as ledger:
            original = ledger.record(report(messageId="m-1"))
            ledger.record(report(messageId="m-2"))
        with Ledger.open(ready_url) as reopened:
            again = reopened.record(report(messageId="m-1"))
            assert (again.duplicate, again.attempt, again.position) == (
                True,
                original.attempt,
                original.position,
            )
            assert again.recorded_at == original.recorded_at
            assert len(reopened.history(TENANT, RT_ID)) == 2

    def test_a_ledger_without_a_cache_recognises_duplicates(self, ready_url: str) -> None:
        with Ledger.open(ready_url, cache_size=0) as ledger:
            ledger.record(report(messageId="m-1"))
            assert ledger.record(report(messageId="m-1")).duplicate is True
            assert len(ledger.history(TENANT, RT_ID)) == 1

    def test_a_duplicate_of_a_report_another_ledger_recorded_is_recognised(
        self, ready_url: str
    ) -> None:
        with Ledger.open(ready_url) as first, Ledger.open(ready_url) as second:
            first.record(report(messageId="m-0"))  # `first` now caches the workload
            original = second.record(report(messageId="m-1"))
            again = first.record(report(messageId="m-1"))  # its cache has not seen m-1
            assert (again.duplicate, again.attempt, again.position) == (
                True,
                original.attempt,
                original.position,
            )
            assert [a.attempt for a in first.history(TENANT, RT_ID)] == [2, 1]


class TestDuplicatesInABatch:
    def test_a_message_id_repeated_inside_one_batch_is_stored_once(self, ledger: Ledger) -> None:
        receipts = ledger.record_many(
            [
                report(messageId="a", success=False),
                report(messageId="b"),
                report(messageId="a", success=False),
                report(messageId="c"),
                report(messageId="b"),
            ]
        )
        assert [(r.attempt, r.duplicate) for r in receipts] == [
            (1, False),
            (2, False),
            (1, True),
            (3, False),
            (2, True),
        ]
        assert receipts[2].position == receipts[0].position
        assert receipts[4].position == receipts[1].position
        assert receipts[2].state is DeploymentState.ERROR
        assert [a.message_id for a in ledger.history(TENANT, RT_ID)] == ["c", "b", "a"]

    def test_a_batch_may_repeat_earlier_reports_among_new_ones(self, ledger: Ledger) -> None:
        first = ledger.record_many([report(messageId="a"), report(messageId="b")])
        second = ledger.record_many(
            [report(messageId="b"), report(messageId="c"), report(messageId="a")]
        )
        assert [(r.attempt, r.duplicate) for r in second] == [(2, True), (3, False), (1, True)]
        assert second[0].position == first[1].position
        assert second[2].position == first[0].position
        assert len(ledger.history(TENANT, RT_ID)) == 3

    def test_a_batch_of_only_duplicates_stores_nothing(self, ledger: Ledger) -> None:
        ledger.record_many([report(messageId="a"), report(messageId="b")])
        position = ledger.max_position()
        receipts = ledger.record_many([report(messageId="b"), report(messageId="a")])
        assert [(r.attempt, r.duplicate) for r in receipts] == [(2, True), (1, True)]
        assert ledger.max_position() == position
