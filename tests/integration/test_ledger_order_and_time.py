"""A batch is stored in input order; every attempt has an occurred-at time (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support import report

from deployledger import Ledger

DAY = datetime(2026, 11, 1, tzinfo=UTC)


def at(days: float) -> str:
    return (DAY + timedelta(days=days)).isoformat()


class TestInputOrder:
    def test_positions_follow_the_input_across_workloads(self, ledger: Ledger) -> None:
        batch = [report(rt) for rt in ("a", "b", "a", "c", "b", "a")]
        receipts = ledger.record_many(batch)
        positions = [r.position for r in receipts]
        assert positions == sorted(positions)
        audited = [a.workload_rt_id for a in reversed(ledger.audit(limit=10).items)]
        assert audited == ["a", "b", "a", "c", "b", "a"]


class TestOccurredAt:
    def test_a_backlog_import_shows_the_real_spread_of_times(self, ledger: Ledger) -> None:
        ledger.record_many(
            [
                report("rt", success=True, reportedAt=at(0)),
                report("rt", success=False, message="boom", reportedAt=at(1)),
                report("rt", success=True, reportedAt=at(2)),
                report("rt", success=False, message="bang", reportedAt=at(3)),
            ]
        )
        state = ledger.get("t1", "rt")
        row = ledger.workloads()[0]
        for answer in (state, row):
            assert answer.last_attempt_at == DAY + timedelta(days=3)
            assert answer.last_success_at == DAY + timedelta(days=2)
            assert answer.last_failure_at == DAY + timedelta(days=3)
        history = ledger.history("t1", "rt")
        assert [a.occurred_at for a in history] == [DAY + timedelta(days=d) for d in (3, 2, 1, 0)]
        assert len({a.recorded_at.replace(microsecond=0) for a in history}) <= 2  # one import

    def test_without_reported_at_an_attempt_occurred_when_it_was_recorded(
        self, ledger: Ledger
    ) -> None:
        receipt = ledger.record(report("rt"))
        attempt = ledger.history("t1", "rt")[0]
        assert attempt.reported_at is None
        assert attempt.occurred_at == attempt.recorded_at == receipt.recorded_at
        assert ledger.get("t1", "rt").last_attempt_at == receipt.recorded_at

    def test_since_and_until_filter_on_occurred_at_and_order_stays_by_position(
        self, ledger: Ledger
    ) -> None:
        ledger.record_many(
            [
                report("late", reportedAt=at(5)),
                report("early", reportedAt=at(1)),
                report("middle", reportedAt=at(3)),
            ]
        )
        page = ledger.audit(since=DAY + timedelta(days=2), until=DAY + timedelta(days=6))
        assert [a.workload_rt_id for a in page.items] == ["middle", "late"]  # newest position first
        page = ledger.audit(until=DAY + timedelta(days=2))
        assert [a.workload_rt_id for a in page.items] == ["early"]

    def test_json_keeps_both_recorded_at_and_reported_at(self, ledger: Ledger) -> None:
        ledger.record(report("rt", reportedAt="2026-11-01T10:00:00+05:30"))
        item = ledger.audit().items[0].to_json()
        assert item["reportedAt"] is not None
        assert item["recordedAt"] is not None
        assert datetime.fromisoformat(item["reportedAt"]) == datetime(
            2026, 11, 1, 4, 30, tzinfo=UTC
        )
