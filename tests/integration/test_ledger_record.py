"""Recording reports and reading back state and history, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from support import RT_ID, TENANT, report

from deployledger import (
    Attempt,
    DeployLedgerError,
    DeploymentState,
    InvalidReport,
    Ledger,
    Receipt,
    WorkloadState,
    parse_report,
)
from deployledger.domain.insights.failures import categorize
from deployledger.domain.insights.failures import fingerprint as fingerprint_of

MIB = 1024 * 1024
HELM_FAILURE = (
    'Error: UPGRADE FAILED: cannot patch "billing-api" with kind Deployment: '
    'Deployment.apps "billing-api" is invalid: spec.template.spec.containers[0].image: '
    "Required value\n"
    "\tat helm.sh/helm/v3/pkg/kube.(*Client).Update\n"
    "\x00 trailing NUL, tab\tand CRLF\r\n"
)


def now() -> datetime:
    return datetime.now(UTC)


class TestReceipts:
    def test_each_report_gets_the_next_attempt_number_and_a_growing_position(
        self, ledger: Ledger
    ) -> None:
        receipts = [ledger.record(report(success=s)) for s in (True, False, True)]
        assert [r.attempt for r in receipts] == [1, 2, 3]
        assert [r.state for r in receipts] == [
            DeploymentState.DEPLOYED,
            DeploymentState.ERROR,
            DeploymentState.DEPLOYED,
        ]
        assert all(isinstance(r, Receipt) for r in receipts)
        assert all((r.tenant_id, r.workload_rt_id) == (TENANT, RT_ID) for r in receipts)
        assert all(r.duplicate is False for r in receipts)
        positions = [r.position for r in receipts]
        assert positions == sorted(set(positions))
        assert positions[0] > 0

    def test_recorded_at_is_an_aware_time_that_never_goes_backwards(self, ledger: Ledger) -> None:
        receipts = [ledger.record(report()) for _ in range(3)]
        assert all(r.recorded_at.utcoffset() is not None for r in receipts)
        times = [r.recorded_at for r in receipts]
        assert times == sorted(times)

    def test_the_position_is_the_store_position_of_the_attempt(self, ledger: Ledger) -> None:
        receipts = [ledger.record(report(workloadRtId=f"w{n % 2}")) for n in range(4)]
        assert ledger.max_position() == receipts[-1].position
        for rt_id in ("w0", "w1"):
            history = ledger.history(TENANT, rt_id)
            mine = [r for r in receipts if r.workload_rt_id == rt_id]
            assert [a.position for a in reversed(history)] == [r.position for r in mine]
            assert [a.recorded_at for a in reversed(history)] == [r.recorded_at for r in mine]

    def test_attempts_are_numbered_per_workload(self, ledger: Ledger) -> None:
        order = ["a", "b", "a", "c", "a", "b"]
        receipts = [ledger.record(report(workloadRtId=rt)) for rt in order]
        assert [(r.workload_rt_id, r.attempt) for r in receipts] == [
            ("a", 1),
            ("b", 1),
            ("a", 2),
            ("c", 1),
            ("a", 3),
            ("b", 2),
        ]

    def test_identifiers_in_any_script_find_their_workload_again(self, ledger: Ledger) -> None:
        tenant, rt_id, name = "租户-Ωμέγα", "🚀-rt-\u00e9", "\U0001f9ea" * 256
        receipt = ledger.record(report(tenantId=tenant, workloadRtId=rt_id, workloadName=name))
        assert (receipt.tenant_id, receipt.workload_rt_id, receipt.attempt) == (tenant, rt_id, 1)
        state = ledger.current(tenant, rt_id)
        assert state is not None
        assert state.workload_name == name
        assert [a.workload_name for a in ledger.history(tenant, rt_id)] == [name]
        assert ledger.current(tenant, "🚀-rt-e\u0301") is None  # no normalisation

    def test_the_same_runtime_id_under_two_tenants_is_two_workloads(self, ledger: Ledger) -> None:
        ledger.record(report(tenantId="t1", success=True))
        second = ledger.record(report(tenantId="t2", success=False))
        assert second.attempt == 1
        one, two = ledger.current("t1", RT_ID), ledger.current("t2", RT_ID)
        assert one is not None
        assert two is not None
        assert (one.state, one.attempts) == (DeploymentState.DEPLOYED, 1)
        assert (two.state, two.attempts, two.tenant_id) == (DeploymentState.ERROR, 1, "t2")


class TestRecordedAtComesFromTheStoreClock:
    def test_recorded_at_lies_between_before_and_after_the_call(self, ledger: Ledger) -> None:
        before = now()
        receipt = ledger.record(report(reportedAt="1999-12-31T23:59:59Z"))
        after = now()
        assert before <= receipt.recorded_at <= after
        attempt = ledger.history(TENANT, RT_ID)[0]
        assert before <= attempt.recorded_at <= after
        assert attempt.reported_at == datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)

    def test_a_reported_at_in_the_future_does_not_move_recorded_at(self, ledger: Ledger) -> None:
        before = now()
        receipt = ledger.record(report(reportedAt="2999-01-01T00:00:00+05:00"))
        assert before <= receipt.recorded_at <= now()


class TestCurrent:
    def test_an_unknown_workload_has_no_current_state(self, ledger: Ledger) -> None:
        assert ledger.current(TENANT, "never-seen") is None

    def test_an_unknown_workload_stays_unknown_after_others_are_recorded(
        self, ledger: Ledger
    ) -> None:
        ledger.record(report())
        assert ledger.current(TENANT, "never-seen") is None
        assert ledger.current("other-tenant", RT_ID) is None

    def test_current_derives_state_counters_and_times_from_every_attempt(
        self, ledger: Ledger
    ) -> None:
        outcomes = [False, True, False, False]
        receipts = [
            ledger.record(report(success=s, statusMessage=None if s else f"fail {n}"))
            for n, s in enumerate(outcomes)
        ]
        assert ledger.current(TENANT, RT_ID) == WorkloadState(
            tenant_id=TENANT,
            workload_rt_id=RT_ID,
            workload_name="billing-api",
            pool_name="pool-a",
            state=DeploymentState.ERROR,
            status_message="fail 3",
            attempts=4,
            failures=3,
            consecutive_failures=2,
            last_attempt_at=receipts[3].recorded_at,
            last_success_at=receipts[1].recorded_at,
            last_failure_at=receipts[3].recorded_at,
        )

    def test_a_workload_that_never_failed_has_no_failure_time(self, ledger: Ledger) -> None:
        receipt = ledger.record(report(success=True, statusMessage="ok"))
        state = ledger.current(TENANT, RT_ID)
        assert state is not None
        assert (state.state, state.failures, state.consecutive_failures) == (
            DeploymentState.DEPLOYED,
            0,
            0,
        )
        assert state.last_failure_at is None
        assert state.last_success_at == receipt.recorded_at
        assert state.status_message == "ok"

    def test_a_renamed_workload_and_a_new_pool_become_current(self, ledger: Ledger) -> None:
        ledger.record(report(workloadName="old-name", poolName="pool-a"))
        ledger.record(report(workloadName="new-name", poolName="pool-b"))
        state = ledger.current(TENANT, RT_ID)
        assert state is not None
        assert (state.workload_name, state.pool_name) == ("new-name", "pool-b")
        names = [(a.workload_name, a.pool_name) for a in ledger.history(TENANT, RT_ID)]
        assert names == [("new-name", "pool-b"), ("old-name", "pool-a")]

    def test_a_report_without_a_pool_records_an_unknown_pool(self, ledger: Ledger) -> None:
        ledger.record(report(poolName=...))
        assert ledger.history(TENANT, RT_ID)[0].pool_name is None

    def test_current_is_the_same_from_a_fresh_ledger(self, ready_url: str) -> None:
        with Ledger.open(ready_url) as writer:
            for success in (True, False, False):
                writer.record(report(success=success, statusMessage=f"{success}"))
            warm = writer.current(TENANT, RT_ID)
        with Ledger.open(ready_url, cache_size=0) as reader:
            assert reader.current(TENANT, RT_ID) == warm

    def test_current_sees_attempts_recorded_by_another_ledger(self, ready_url: str) -> None:
        with Ledger.open(ready_url) as reader, Ledger.open(ready_url) as writer:
            writer.record(report(success=True))
            first = reader.current(TENANT, RT_ID)  # now cached by the reader
            assert first is not None
            assert first.attempts == 1
            writer.record(report(success=False, statusMessage="later failure"))
            second = reader.current(TENANT, RT_ID)
            assert second is not None
            assert (second.attempts, second.state, second.status_message) == (
                2,
                DeploymentState.ERROR,
                "later failure",
            )

    def test_a_ledger_with_a_stale_cache_still_numbers_attempts_contiguously(
        self, ready_url: str
    ) -> None:
        with Ledger.open(ready_url) as first, Ledger.open(ready_url) as second:
            assert first.record(report()).attempt == 1  # cached in `first`
            assert second.record(report()).attempt == 2
            assert second.record(report()).attempt == 3
            assert first.record(report()).attempt == 4
            attempts = [a.attempt for a in second.history(TENANT, RT_ID)]
            assert attempts == [4, 3, 2, 1]


class TestHistory:
    @pytest.fixture
    def five(self, ledger: Ledger) -> list[Receipt]:
        return [ledger.record(report(statusMessage=f"attempt {n}")) for n in range(1, 6)]

    def test_an_unknown_workload_has_an_empty_history(self, ledger: Ledger) -> None:
        assert ledger.history(TENANT, "never-seen") == []

    def test_history_is_newest_first(self, ledger: Ledger, five: list[Receipt]) -> None:
        history = ledger.history(TENANT, RT_ID)
        assert [a.attempt for a in history] == [5, 4, 3, 2, 1]
        assert [a.status_message for a in history] == [f"attempt {n}" for n in (5, 4, 3, 2, 1)]
        assert all(isinstance(a, Attempt) for a in history)

    def test_limit_keeps_the_newest(self, ledger: Ledger, five: list[Receipt]) -> None:
        assert [a.attempt for a in ledger.history(TENANT, RT_ID, limit=2)] == [5, 4]
        assert [a.attempt for a in ledger.history(TENANT, RT_ID, limit=50)] == [5, 4, 3, 2, 1]
        assert ledger.history(TENANT, RT_ID, limit=0) == []

    def test_before_attempt_pages_backwards(self, ledger: Ledger, five: list[Receipt]) -> None:
        assert [a.attempt for a in ledger.history(TENANT, RT_ID, before_attempt=4)] == [3, 2, 1]
        assert [a.attempt for a in ledger.history(TENANT, RT_ID, before_attempt=2)] == [1]
        assert ledger.history(TENANT, RT_ID, before_attempt=1) == []
        assert len(ledger.history(TENANT, RT_ID, before_attempt=99)) == 5

    def test_limit_and_before_attempt_combine_into_pages(
        self, ledger: Ledger, five: list[Receipt]
    ) -> None:
        pages: list[list[int]] = []
        before = None
        while page := ledger.history(TENANT, RT_ID, limit=2, before_attempt=before):
            pages.append([a.attempt for a in page])
            before = page[-1].attempt
        assert pages == [[5, 4], [3, 2], [1]]

    def test_a_negative_limit_is_an_error(self, ledger: Ledger, five: list[Receipt]) -> None:
        with pytest.raises(DeployLedgerError):
            ledger.history(TENANT, RT_ID, limit=-1)

    def test_history_of_one_workload_excludes_the_others(self, ledger: Ledger) -> None:
        ledger.record(report(workloadRtId="a"))
        ledger.record(report(workloadRtId="b"))
        ledger.record(report(tenantId="t2", workloadRtId="a"))
        assert [(a.tenant_id, a.workload_rt_id) for a in ledger.history(TENANT, "a")] == [
            (TENANT, "a")
        ]

    def test_a_history_item_carries_every_field_exactly(self, ledger: Ledger) -> None:
        receipt = ledger.record(
            report(
                success=False,
                poolName="pool-eu",
                workloadName="billing-api",
                statusMessage=HELM_FAILURE,
                messageId="op-7f3a/attempt-1",
                reportedAt="2024-05-01T12:34:56.789012+02:00",
            )
        )
        [item] = ledger.history(TENANT, RT_ID)
        assert item == Attempt(
            tenant_id=TENANT,
            workload_rt_id=RT_ID,
            attempt=1,
            recorded_at=receipt.recorded_at,
            reported_at=datetime(
                2024, 5, 1, 12, 34, 56, 789012, tzinfo=timezone(timedelta(hours=2))
            ),
            success=False,
            state=DeploymentState.ERROR,
            status_message=HELM_FAILURE,
            workload_name="billing-api",
            pool_name="pool-eu",
            message_id="op-7f3a/attempt-1",
            position=receipt.position,
            category=categorize(HELM_FAILURE),
            fingerprint=fingerprint_of(HELM_FAILURE),
        )
        assert item.category == "immutable-field"
        assert item.reported_at is not None
        assert item.reported_at.utcoffset() == timedelta(hours=2)

    def test_a_history_item_without_optional_fields_has_nones(self, ledger: Ledger) -> None:
        ledger.record(report(poolName=..., statusMessage=..., success=True))
        [item] = ledger.history(TENANT, RT_ID)
        assert (item.pool_name, item.status_message, item.message_id, item.reported_at) == (
            None,
            None,
            None,
            None,
        )
        assert item.state is DeploymentState.DEPLOYED


MESSAGES: dict[str, str] = {
    "nul": "\x00",
    "nul-inside": "before\x00after\x00",
    "helm": HELM_FAILURE,
    "whitespace": "  \n\t leading and trailing \r\n  ",
    "empty": "",
    "emoji-cjk": "部署失败：镜像拉取失败 🚀🔥 — デプロイ失敗 — 배포 실패",
    "astral-and-combining": "\U0010ffff \U0001f9ea e\u0301 \u00e9 \ufeff \u200b \u2028",
    "control": "\x1b[31mred\x1b[0m \x07 \x7f \x85",
    "json-looking": '{"not": "parsed"} \\u0000 \\n',
}


class TestStatusMessagesRoundTripExactly:
    @pytest.mark.parametrize("message", MESSAGES.values(), ids=MESSAGES.keys())
    def test_a_status_message_comes_back_byte_for_byte(self, ledger: Ledger, message: str) -> None:
        ledger.record(json.dumps(report(success=False, statusMessage=message)))
        state = ledger.current(TENANT, RT_ID)
        assert state is not None
        assert state.status_message == message
        [item] = ledger.history(TENANT, RT_ID)
        assert item.status_message is not None
        assert item.status_message.encode("utf-8") == message.encode("utf-8")

    def test_a_one_mebibyte_message_round_trips(self, ready_url: str) -> None:
        message = ("helm 🚀 line\n" * (MIB // 16))[: MIB // 4]
        message += "x" * (MIB - len(message.encode()))
        assert len(message.encode()) == MIB
        with Ledger.open(ready_url) as ledger:
            ledger.record(report(success=False, statusMessage=message))
        with Ledger.open(ready_url, cache_size=0) as ledger:
            assert ledger.history(TENANT, RT_ID)[0].status_message == message
            state = ledger.current(TENANT, RT_ID)
            assert state is not None
            assert state.status_message == message

    def test_a_message_over_the_limit_is_rejected_and_nothing_stored_when_asked(
        self, ready_url: str
    ) -> None:
        with Ledger.open(ready_url, reject_oversized=True) as ledger:
            with pytest.raises(InvalidReport) as info:
                ledger.record(report(statusMessage="x" * (MIB + 1)))
            assert [p.field for p in info.value.problems] == ["statusMessage"]
            assert ledger.current(TENANT, RT_ID) is None
            assert ledger.max_position() == 0

    def test_the_ledger_applies_its_configured_message_limit(self, ready_url: str) -> None:
        with Ledger.open(ready_url, max_message_bytes=200) as ledger:
            ledger.record(report(statusMessage="x" * 200))
            ledger.record(report(statusMessage="x" * 201))
            newest, oldest = ledger.history(TENANT, RT_ID)
            assert (oldest.message_truncated, newest.message_truncated) == (False, True)
            assert len((newest.status_message or "").encode()) <= 200


FULL = report(
    success=False,
    statusMessage="Error: \x00 ✗ 失败\n",
    messageId=None,
    reportedAt="2024-05-01T12:00:00Z",
)
FORMS: dict[str, Any] = {
    "model": parse_report(FULL),
    "dict": FULL,
    "json-str": json.dumps(FULL),
    "json-bytes": json.dumps(FULL, ensure_ascii=False).encode(),
    "pascal-dict": {k[0].upper() + k[1:]: v for k, v in FULL.items()},
}


class TestInputForms:
    @pytest.mark.parametrize("given", FORMS.values(), ids=FORMS.keys())
    def test_every_input_form_records_the_same_attempt(self, ledger: Ledger, given: Any) -> None:
        receipt = ledger.record(given)
        assert (receipt.attempt, receipt.state) == (1, DeploymentState.ERROR)
        [item] = ledger.history(TENANT, RT_ID)
        assert (item.success, item.status_message, item.reported_at, item.pool_name) == (
            False,
            "Error: \x00 ✗ 失败\n",
            datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
            "pool-a",
        )

    @pytest.mark.parametrize(
        "given",
        [report(success="true"), "{not json", b"[1, 2]", report(tenantId=" "), {}],
        ids=["string-bool", "bad-json", "array", "blank-tenant", "empty"],
    )
    def test_an_invalid_report_raises_and_stores_nothing(self, ledger: Ledger, given: Any) -> None:
        with pytest.raises(InvalidReport):
            ledger.record(given)
        assert ledger.max_position() == 0
        assert ledger.history(TENANT, RT_ID) == []


class TestInMemoryStore:
    def test_an_in_memory_store_records_and_reads_back(self) -> None:
        with Ledger.open("sqlite:///:memory:") as ledger:
            assert [ledger.record(report()).attempt for _ in range(3)] == [1, 2, 3]
            state = ledger.current(TENANT, RT_ID)
            assert state is not None
            assert state.attempts == 3
            assert [a.attempt for a in ledger.history(TENANT, RT_ID)] == [3, 2, 1]

    def test_two_in_memory_stores_are_separate(self) -> None:
        with Ledger.open("sqlite:///:memory:") as one, Ledger.open("sqlite:///:memory:") as two:
            one.record(report())
            assert two.current(TENANT, RT_ID) is None
