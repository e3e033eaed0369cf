"""The deployment lifecycle on both backends: deploy request -> progress -> outcome, undeploy;
correlation of an outcome with its request (chart, position, duration), the helm operation
and exit code of the operator's failure message, overdue deploys, and idempotency of every
kind of message."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from support import progress, report, request, undeploy

from deployledger import (
    Attempt,
    DeploymentState,
    IdempotencyConflict,
    InvalidQuery,
    InvalidReport,
    Ledger,
    LifecycleEntry,
)

T, RT, OTHER = "t1", "64f1c0ffee0000000000beef", "64f1c0ffee0000000000cafe"
NOW = datetime.now(UTC).replace(microsecond=0)
STDERR = (
    "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n"
    "\x00 exact bytes 🚀"
)
HELM_FAILURE = f"helm upgrade --install billing-api failed with exit code 1. stderr: {STDERR}"


@pytest.fixture(autouse=True)
def _now() -> None:
    """Times are relative to each test's start (a module-level clock would age under load)."""
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0)


def ago(minutes: float) -> str:
    return (NOW - timedelta(minutes=minutes)).isoformat()


def agree(ledger: Ledger, tenant: str = T, rt: str = RT) -> None:
    """The aggregate, the read model and a rebuilt read model say the same."""
    current = ledger.current(tenant, rt)
    [row] = [w for w in ledger.workloads(tenant_id=tenant) if w.workload_rt_id == rt]
    assert current is not None
    assert dataclasses.asdict(current) == dataclasses.asdict(row)
    history = ledger.history(tenant, rt)
    assert history == ledger.audit(tenant_id=tenant, workload_rt_id=rt, limit=100).items


class TestCorrelation:
    def test_a_deploy_from_request_through_progress_to_a_failed_outcome(
        self, ledger: Ledger
    ) -> None:
        asked = ledger.record(request(RT, version="2.0.1", reportedAt=ago(10), messageId="q1"))
        assert (asked.kind, asked.attempt, asked.state) == (
            "request",
            None,
            DeploymentState.PENDING,
        )
        state = ledger.get(T, RT)
        assert state.state is DeploymentState.PENDING
        assert (state.pending_chart_name, state.pending_chart_version) == ("billing", "2.0.1")
        assert state.requested_at == datetime.fromisoformat(ago(10))
        age = state.pending_age()
        assert age is not None
        assert timedelta(minutes=10) <= age < timedelta(minutes=11)

        for n, text in enumerate(["Pod billing-1 waiting: ContainerCreating", "ImagePullBackOff"]):
            step = ledger.record(progress(RT, text, reportedAt=ago(9 - n)))
            assert (step.kind, step.attempt, step.state) == (
                "progress",
                None,
                DeploymentState.PENDING,
            )
        assert ledger.get(T, RT).status_message == "ImagePullBackOff"
        assert ledger.get(T, RT).pending_chart_version == "2.0.1"  # progress keeps it open

        done = ledger.record(report(RT, success=False, message=HELM_FAILURE, reportedAt=ago(7)))
        assert (done.kind, done.attempt, done.state) == ("outcome", 1, DeploymentState.ERROR)

        [attempt] = ledger.history(T, RT)
        assert attempt.status_message == HELM_FAILURE  # byte for byte
        assert (attempt.chart_name, attempt.chart_version) == ("billing", "2.0.1")
        assert attempt.request_position == asked.position
        assert attempt.duration == pytest.approx(180.0)
        assert (attempt.helm_operation, attempt.exit_code) == ("upgrade --install billing-api", 1)
        state = ledger.get(T, RT)
        assert state.state is DeploymentState.ERROR
        assert state.last_duration == pytest.approx(180.0)
        assert (state.requested_at, state.pending_chart_version) == (None, None)
        assert state.deployed_chart_version is None  # it failed: nothing new deployed
        assert ledger.overdue(timedelta(0)) == []
        agree(ledger)

    def test_the_timeline_holds_every_kind_newest_first(self, ledger: Ledger) -> None:
        first = ledger.record(request(RT, version="1.0.0", reportedAt=ago(30)))
        ledger.record(report(RT, success=True, reportedAt=ago(29)))
        ledger.record(request(RT, version="1.1.0", reportedAt=ago(20)))  # same values
        ledger.record(progress(RT, "waiting", reportedAt=ago(19)))
        ledger.record(report(RT, success=True, reportedAt=ago(18)))
        changed = request(RT, version="1.2.0", reportedAt=ago(10))
        changed["values"] = [{"path": "image.tag", "value": "v2", "isSecret": False}]
        ledger.record(changed)
        ledger.record(undeploy(RT, reportedAt=ago(5)))

        timeline = ledger.timeline(T, RT)
        kinds = [e.kind for e in timeline]
        assert kinds == [
            "undeploy", "request", "outcome", "progress", "request", "outcome", "request"
        ]  # fmt: skip
        assert [e.position for e in timeline] == sorted(
            (e.position for e in timeline), reverse=True
        )
        requests = [e for e in timeline if isinstance(e, LifecycleEntry) and e.kind == "request"]
        assert [r.values_changed for r in requests] == [True, False, None]
        assert [r.chart_version for r in requests] == ["1.2.0", "1.1.0", "1.0.0"]
        assert requests[-1].position == first.position
        outcomes = [e for e in timeline if isinstance(e, Attempt)]
        assert [(o.attempt, o.chart_version) for o in outcomes] == [(2, "1.1.0"), (1, "1.0.0")]
        assert [o.duration for o in outcomes] == [pytest.approx(120.0), pytest.approx(60.0)]
        assert ledger.timeline(T, RT, limit=2) == timeline[:2]
        assert [e.kind for e in ledger.timeline("t1", "never-seen")] == []

        state = ledger.get(T, RT)
        assert state.state is DeploymentState.UNDEPLOYED
        assert state.undeployed_at == datetime.fromisoformat(ago(5))
        assert (state.deployed_chart_version, state.pending_chart_version) == (None, None)
        assert state.last_duration == pytest.approx(120.0)
        assert ledger.overdue(timedelta(0)) == []  # the undeploy closed the open request
        agree(ledger)

    def test_a_success_sets_the_deployed_chart_and_keeps_it_through_a_later_failure(
        self, ledger: Ledger
    ) -> None:
        ledger.record_many(
            [
                request(RT, version="3.0.0"),
                report(RT, success=True),
                request(RT, version="3.1.0"),
                report(RT, success=False, message="Error: UPGRADE FAILED: timed out"),
            ]
        )
        state = ledger.get(T, RT)
        assert (state.deployed_chart_name, state.deployed_chart_version) == ("billing", "3.0.0")
        assert state.state is DeploymentState.ERROR
        agree(ledger)

    def test_an_outcome_without_a_request_is_recorded_as_before(self, ledger: Ledger) -> None:
        receipt = ledger.record(report(RT, success=True, message="ok"))
        [attempt] = ledger.history(T, RT)
        assert (receipt.kind, receipt.attempt) == ("outcome", 1)
        assert (attempt.duration, attempt.chart_name, attempt.request_position) == (None,) * 3
        assert (attempt.helm_operation, attempt.exit_code) == (None, None)
        assert ledger.get(T, RT).state is DeploymentState.DEPLOYED
        agree(ledger)

    def test_progress_without_a_request_is_recorded_and_leaves_the_workload_pending(
        self, ledger: Ledger
    ) -> None:
        ledger.record(progress(RT, "Pod x waiting", reportedAt=ago(60)))
        state = ledger.get(T, RT)
        assert (state.state, state.status_message) == (DeploymentState.PENDING, "Pod x waiting")
        assert state.requested_at is None
        assert ledger.overdue(timedelta(0)) == []  # no request: nothing to be overdue
        assert [e.kind for e in ledger.timeline(T, RT)] == ["progress"]
        agree(ledger)

    def test_attempt_numbers_count_outcomes_between_lifecycle_messages(
        self, ledger: Ledger, ready_url: str
    ) -> None:
        for n in range(3):
            ledger.record(request(RT, version=f"1.{n}.0"))
            ledger.record(progress(RT))
            ledger.record(report(RT, success=n != 1, messageId=f"out-{n}"))
        assert [a.attempt for a in ledger.history(T, RT)] == [3, 2, 1]
        assert [a.attempt for a in ledger.history(T, RT, before_attempt=3, limit=1)] == [2]
        # A resend of an outcome stored between lifecycle events: its original number.
        with Ledger.open(ready_url) as cold:
            again = cold.record(report(RT, success=False, messageId="out-1"))
        assert (again.duplicate, again.attempt, again.kind) == (True, 2, "outcome")


class TestIdempotency:
    def test_every_kind_is_idempotent_by_message_id(self, ledger: Ledger) -> None:
        sent = [
            request(RT, messageId="a"),
            progress(RT, messageId="b"),
            report(RT, messageId="c"),
            undeploy(RT, messageId="d"),
        ]
        first = ledger.record_many(sent)
        again = ledger.record_many(sent)
        assert [r.kind for r in again] == ["request", "progress", "outcome", "undeploy"]
        assert all(r.duplicate for r in again)
        assert [r.position for r in again] == [r.position for r in first]
        assert [r.attempt for r in again] == [None, None, 1, None]
        assert [r.state for r in again] == [r.state for r in first]
        assert ledger.max_position() == first[-1].position

    def test_a_request_resent_with_another_secret_is_a_conflict(self, ledger: Ledger) -> None:
        body = request(RT, messageId="q", repositoryPassword="one")
        body["values"] = [{"path": "db.password", "value": "first", "isSecret": True}]
        ledger.record(body)
        assert ledger.record(body).duplicate
        changed = {**body, "values": [{"path": "db.password", "value": "other", "isSecret": True}]}
        with pytest.raises(IdempotencyConflict, match="deploy request"):
            ledger.record(changed)
        # The repository password is not part of the values: it is never stored or compared.
        assert ledger.record({**body, "repositoryPassword": "two"}).duplicate

    def test_a_duplicate_within_one_batch_answers_with_the_first(self, ledger: Ledger) -> None:
        receipts = ledger.record_many([progress(RT, messageId="p"), progress(RT, messageId="p")])
        assert [r.duplicate for r in receipts] == [False, True]
        assert receipts[0].position == receipts[1].position

    def test_a_bad_message_in_a_mixed_batch_stores_nothing(self, ledger: Ledger) -> None:
        with pytest.raises(InvalidReport) as caught:
            ledger.record_many([request(RT), {"tenantId": T, "workloadRtId": RT}, progress(RT)])
        assert [(p.report, p.field) for p in caught.value.problems] == [(2, "kind")]
        assert ledger.max_position() == 0


class TestOverdue:
    def test_requests_without_outcome_past_the_deadline_oldest_first(self, ledger: Ledger) -> None:
        ledger.record(request(RT, version="1.0.0", reportedAt=ago(40), poolRtId="pool-rt-1"))
        ledger.record(progress(RT, "ImagePullBackOff", reportedAt=ago(35)))
        ledger.record(report(OTHER, tenant="t2", pool="pool-b", success=True, reportedAt=ago(91)))
        ledger.record(
            request(OTHER, tenant="t2", version="2.0.0", reportedAt=ago(90), poolRtId="p2")
        )
        ledger.record(request("fresh", version="9", reportedAt=ago(1)))
        ledger.record(request("answered", reportedAt=ago(50)))
        ledger.record(report("answered", success=True, reportedAt=ago(45)))

        late = ledger.overdue()
        assert [(o.tenant_id, o.workload_rt_id) for o in late] == [("t2", OTHER), (T, RT)]
        t2, mine = late
        assert (mine.chart_name, mine.chart_version) == ("billing", "1.0.0")
        assert mine.progress_message == "ImagePullBackOff"
        assert mine.requested_at == datetime.fromisoformat(ago(40))
        assert timedelta(minutes=40) <= mine.age < timedelta(minutes=41)
        assert (mine.pool_rt_id, t2.pool_name) == ("pool-rt-1", "pool-b")
        assert t2.progress_message is None

        assert [o.workload_rt_id for o in ledger.overdue(timedelta(hours=1))] == [OTHER]
        assert [o.workload_rt_id for o in ledger.overdue(timedelta(0))] == [OTHER, RT, "fresh"]
        assert [o.workload_rt_id for o in ledger.overdue(tenant_id=T)] == [RT]
        assert [o.workload_rt_id for o in ledger.overdue(pool="pool-rt-1")] == [RT]
        assert [o.workload_rt_id for o in ledger.overdue(pool="pool-b")] == [OTHER]
        assert ledger.overdue(pool="nowhere") == []
        pending = [w.workload_rt_id for w in ledger.workloads(state="pending")]
        assert pending == [RT, "fresh", OTHER]  # by tenant, then runtime id

        ledger.record(report(RT, success=True))
        assert [o.workload_rt_id for o in ledger.overdue()] == [OTHER]
        ledger.record(undeploy(OTHER, tenant="t2"))
        assert ledger.overdue() == []

    def test_a_newer_request_restarts_the_clock(self, ledger: Ledger) -> None:
        ledger.record(request(RT, version="1", reportedAt=ago(60)))
        ledger.record(request(RT, version="2", reportedAt=ago(5)))
        assert ledger.overdue() == []
        [late] = ledger.overdue(timedelta(minutes=1))
        assert late.chart_version == "2"

    def test_a_negative_or_non_timedelta_deadline_is_refused(self, ledger: Ledger) -> None:
        with pytest.raises(InvalidQuery):
            ledger.overdue(timedelta(minutes=-1))
        with pytest.raises(InvalidQuery):
            ledger.overdue(15)  # type: ignore[arg-type]


class TestColdAndSnapshots:
    def test_a_cold_ledger_and_snapshots_give_the_same_state(self, ready_url: str) -> None:
        messages = []
        for n in range(12):
            messages += [
                request(RT, version=f"1.{n}.0"),
                progress(RT),
                report(RT, success=n % 3 != 0),
            ]
        messages.append(request(RT, version="9.9.9", reportedAt=ago(30)))
        with Ledger.open(ready_url, snapshot_interval=5) as warm:
            for message in messages:
                warm.record(message)
            expected = warm.get(T, RT)
        with Ledger.open(ready_url) as cold:
            state = cold.get(T, RT)
            assert state == expected
            assert (state.attempts, state.pending_chart_version) == (12, "9.9.9")
            assert [o.workload_rt_id for o in cold.overdue()] == [RT]
            agree(cold)
            result = cold.rebuild()
            assert (result.attempts, result.workloads) == (12, 1)
            agree(cold)


def test_the_fleet_filter_by_pool_matches_the_pool_name_or_its_runtime_id(
    ledger: Ledger,
) -> None:
    ledger.record(request(RT, poolRtId="pool-rt-9"))  # known through a request only
    ledger.record(report(OTHER, pool="pool-east", success=True))
    assert [w.workload_rt_id for w in ledger.workloads(pool_name="pool-rt-9")] == [RT]
    assert [w.workload_rt_id for w in ledger.workloads(pool_name="pool-east")] == [OTHER]
    assert ledger.workloads(pool_name="pool-west") == []
