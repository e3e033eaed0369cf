"""`record_many`: one transaction, all or nothing, receipts in input order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import TENANT, report, reports

from deployledger import DeploymentState, InvalidReport, Ledger


def fleet_batch(size: int) -> list[dict[str, Any]]:
    """`size` reports over five workloads of two tenants, successes and failures mixed."""
    return reports(
        size,
        tenant=lambda n, _: f"t{n % 2}",
        rtid=lambda n, _: f"w{n % 5}",
        success=lambda n, _: n % 3 != 0,
        message=lambda n, _: None if n % 3 else f"failure {n}\nline two",
        messageId=lambda n, _: f"m-{n}",
    )


class TestAllOrNothing:
    def test_one_invalid_report_in_fifty_rejects_the_batch_listing_every_problem(
        self, ledger: Ledger
    ) -> None:
        ledger.record(report(tenantId="t0", workloadRtId="w0"))
        position = ledger.max_position()
        batch: list[Any] = fleet_batch(50)
        batch[6] = report(success="true")
        batch[22] = report(tenantId="", statusMessage=7, reportedAt="2024-05-01T12:00:00")
        batch[49] = "{not json"
        with pytest.raises(InvalidReport) as info:
            ledger.record_many(batch)
        assert [(p.report, p.field) for p in info.value.problems] == [
            (7, "success"),
            (23, "tenantId"),
            (23, "statusMessage"),
            (23, "reportedAt"),
            (50, "(report)"),
        ]
        assert str(info.value.problems[0]).startswith("report 7: success: ")
        assert ledger.max_position() == position
        for n in range(5):
            for tenant in ("t0", "t1"):
                expected = 1 if (tenant, n) == ("t0", 0) else 0
                assert len(ledger.history(tenant, f"w{n}")) == expected

    def test_a_rejected_batch_leaves_attempt_numbers_untouched(self, ledger: Ledger) -> None:
        ledger.record(report())
        with pytest.raises(InvalidReport):
            ledger.record_many([report(), report(), report(workloadName=None)])
        assert ledger.record(report()).attempt == 2

    def test_a_valid_batch_is_stored_whole(self, ledger: Ledger) -> None:
        receipts = ledger.record_many(fleet_batch(50))
        assert len(receipts) == 50
        assert sum(len(ledger.history(t, f"w{n}")) for t in ("t0", "t1") for n in range(5)) == 50


class TestReceiptsOfABatch:
    def test_receipts_come_back_in_input_order_across_workloads(self, ledger: Ledger) -> None:
        batch = fleet_batch(30)
        receipts = ledger.record_many(batch)
        assert [(r.tenant_id, r.workload_rt_id) for r in receipts] == [
            (b["tenantId"], b["workloadRtId"]) for b in batch
        ]
        assert [r.state for r in receipts] == [
            DeploymentState.DEPLOYED if b["success"] else DeploymentState.ERROR for b in batch
        ]
        seen: dict[tuple[str, str], int] = {}
        for receipt in receipts:
            key = (receipt.tenant_id, receipt.workload_rt_id)
            seen[key] = seen.get(key, 0) + 1
            assert receipt.attempt == seen[key]
        assert len({r.position for r in receipts}) == 30

    def test_each_receipt_points_at_its_own_report(self, ledger: Ledger) -> None:
        batch = fleet_batch(20)
        receipts = ledger.record_many(batch)
        for sent, receipt in zip(batch, receipts, strict=True):
            history = ledger.history(receipt.tenant_id, receipt.workload_rt_id)
            [item] = [a for a in history if a.attempt == receipt.attempt]
            assert item.position == receipt.position
            assert item.message_id == sent["messageId"]
            assert item.status_message == sent["statusMessage"]

    def test_a_batch_continues_attempts_recorded_before_it(self, ledger: Ledger) -> None:
        ledger.record(report(workloadRtId="a"))
        receipts = ledger.record_many([report(workloadRtId="b"), report(workloadRtId="a")])
        assert [(r.workload_rt_id, r.attempt) for r in receipts] == [("b", 1), ("a", 2)]

    def test_a_batch_may_mix_input_forms(self, ledger: Ledger) -> None:
        forms: list[dict[str, Any] | str | bytes] = [
            report(),
            json.dumps(report()),
            json.dumps(report()).encode(),
        ]
        receipts = ledger.record_many(iter(forms))
        assert [r.attempt for r in receipts] == [1, 2, 3]

    def test_an_empty_batch_returns_no_receipts_and_stores_nothing(self, ledger: Ledger) -> None:
        assert ledger.record_many([]) == []
        assert ledger.max_position() == 0
        assert ledger.history(TENANT, "w0") == []
