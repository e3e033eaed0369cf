"""The projection fold (`deployledger.projections.project`): events to read-model rows. No I/O.

Events come from real `Workload` aggregates, turned into the `EventRecord`s the runner
reads from the store; only `project()`'s output and the module's public functions are
looked at.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import EVERY_FIELD, parsed_report, progress, request

from deployledger import DeploymentState, parse_message
from deployledger.domain.insights.failures import categorize, fingerprint
from deployledger.domain.workload.aggregate import Workload, workload_id
from deployledger.projections.project import (
    EventRecord,
    attempt_row,
    decode_message,
    encode_message,
    project,
)
from deployledger.store.readmodel.tables import deployment_attempts, workload_state

REGISTERED = "deployledger:Workload.Registered"
ATTEMPTED = "deployledger:Workload.DeploymentAttempted"
# What the read model and the aggregate both keep of a workload.
FOLDED = (
    "workload_name",
    "pool_name",
    "state",
    "attempts",
    "failures",
    "consecutive_failures",
    "last_attempt_at",
    "last_success_at",
    "last_failure_at",
)

unicode_text = st.text(st.characters(exclude_categories=["Cs"]))


class Positions:
    """Turns aggregate events into stored-event records at increasing global positions."""

    def __init__(self) -> None:
        self.position = 0

    def records(self, workload: Workload) -> list[EventRecord]:
        made = []
        for event in workload.collect_events():
            assert isinstance(event, Workload.Event | Workload.Registered)
            self.position += 1
            made.append(
                EventRecord(
                    self.position,
                    event.originator_id.hex,
                    event.originator_version,
                    event.TOPIC,
                    dict(vars(event)),
                )
            )
        return made


def attempt(workload: Workload, **fields: Any) -> Workload:
    """Record one attempt on `workload` (`fields` as for `support.report`); return it."""
    workload.record(parsed_report(workload.workload_rt_id, tenant=workload.tenant_id, **fields))
    return workload


def key(tenant: str = "t1", rtid: str = "rt-1") -> str:
    return workload_id(tenant, rtid).hex


class TestMessages:
    @given(message=st.one_of(st.none(), unicode_text))
    def test_decode_gives_back_exactly_what_encode_was_given(self, message: str | None) -> None:
        assert decode_message(*encode_message(message)) == message

    @given(message=unicode_text.filter(lambda m: "\x00" not in m))
    def test_a_message_without_nul_is_kept_as_text_only(self, message: str) -> None:
        assert encode_message(message) == (message, None)

    @given(before=unicode_text, after=unicode_text)
    def test_a_message_with_nul_is_searchable_without_it_and_kept_exactly_as_bytes(
        self, before: str, after: str
    ) -> None:
        message = before + "\x00" + after
        text, exact = encode_message(message)
        assert text is not None
        assert "\x00" not in text
        assert text == message.replace("\x00", "\ufffd")
        assert exact == message.encode("utf-8")

    def test_none_stays_none(self) -> None:
        assert encode_message(None) == (None, None)
        assert decode_message(None, None) is None

    def test_the_exact_bytes_win_over_the_text(self) -> None:
        assert decode_message("a\ufffdb", b"a\x00b") == "a\x00b"
        assert decode_message("a\ufffdb", None) == "a\ufffdb"


class TestAttemptRow:
    def test_an_attempt_becomes_one_row_with_every_column_of_the_table(self) -> None:
        workload = attempt(Workload.register("t1", "rt-1"), **EVERY_FIELD)
        registration, attempted = Positions().records(workload)

        [row] = project([registration, attempted], {}).attempts

        assert set(row) == {c.name for c in deployment_attempts.columns}
        assert row == {
            "position": 2,
            "tenant_id": "t1",
            "workload_rt_id": "rt-1",
            "attempt": 1,
            "recorded_at": attempted.data["timestamp"],
            "reported_at": datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
            "occurred_at": datetime(2024, 5, 1, 10, 0, tzinfo=UTC),  # reported, else recorded
            "success": False,
            "state": int(DeploymentState.ERROR),
            "status_message": "Error: UPGRADE FAILED\n\ufffd tab\there 🚀",
            "status_message_exact": "Error: UPGRADE FAILED\n\x00 tab\there 🚀".encode(),
            "workload_name": "billing-api-v2",
            "pool_name": "pool-b",
            "message_id": "m-1",
            "message_truncated": False,
            "chart_name": None,  # no request was open
            "chart_version": None,
            "request_position": None,
            "duration": None,
            "helm_operation": None,  # not the operator's format
            "exit_code": None,
            "category": categorize(EVERY_FIELD["statusMessage"]),  # failed: derived
            "fingerprint": fingerprint(EVERY_FIELD["statusMessage"]),
        }
        assert registration.topic == REGISTERED

    def test_attempt_numbers_count_the_outcomes_only(self) -> None:
        workload = Workload.register("t1", "rt-1")
        attempt(workload)
        workload.record(parse_message(request("rt-1", tenant="t1")))
        workload.record(parse_message(progress("rt-1", tenant="t1")))
        attempt(workload)
        attempt(workload)
        changes = project(Positions().records(workload), {})
        rows = changes.attempts
        assert [r["attempt"] for r in rows] == [1, 2, 3]
        assert [r["position"] for r in rows] == [2, 5, 6]
        assert [r["state"] for r in rows] == [int(DeploymentState.DEPLOYED)] * 3
        assert [r["reported_at"] for r in rows] == [None] * 3
        assert [r["kind"] for r in changes.lifecycle] == ["request", "progress"]

    def test_a_reported_time_keeps_its_instant_and_zone(self) -> None:
        # The row keeps the sender's offset (the timeline shows it); the database stores
        # the instant in UTC (see the read-model tests).
        record = EventRecord(
            7,
            key(),
            2,
            ATTEMPTED,
            {
                "tenant_id": "t1",
                "workload_rt_id": "rt-1",
                "workload_name": "w",
                "pool_name": None,
                "success": True,
                "status_message": None,
                "message_id": None,
                "timestamp": datetime(2024, 5, 1, 12, tzinfo=UTC),
                "reported_at": datetime(2024, 5, 1, 6, tzinfo=timezone(timedelta(hours=-5))),
            },
        )
        row = attempt_row(record)
        assert row["reported_at"] == datetime(2024, 5, 1, 11, tzinfo=UTC)
        assert row["reported_at"].utcoffset() == timedelta(hours=-5)
        assert (row["status_message"], row["status_message_exact"]) == (None, None)


class TestProject:
    def test_a_registration_alone_gives_a_new_state_row_with_no_attempt(self) -> None:
        [record] = Positions().records(Workload.register("t1", "rt-1"))

        changes = project([record], {})

        assert changes.attempts == []
        assert changes.new_states == {key()}
        row = changes.states[key()]
        assert set(row) == {c.name for c in workload_state.columns}
        assert row == {
            "tenant_id": "t1",
            "workload_rt_id": "rt-1",
            "workload_id": key(),
            "workload_name": None,
            "pool_name": None,
            "state": int(DeploymentState.UNDEPLOYED),
            "status_message": None,
            "status_message_exact": None,
            "attempts": 0,
            "failures": 0,
            "consecutive_failures": 0,
            "last_attempt_at": None,
            "last_success_at": None,
            "last_failure_at": None,
            "last_position": 1,
            "pool_rt_id": None,
            "workload_type": None,
            "deployed_chart_name": None,
            "deployed_chart_version": None,
            "pending_chart_name": None,
            "pending_chart_version": None,
            "requested_at": None,
            "request_version": None,
            "request_position": None,
            "values_digest": None,
            "last_duration": None,
            "undeployed_at": None,
            "effective_at": None,
        }

    def test_attempts_give_one_row_each_and_one_final_state_row_per_workload(self) -> None:
        positions = Positions()
        first = Workload.register("t1", "rt-1")
        other = Workload.register("t2", "rt-1")
        records = positions.records(attempt(first, success=True, message="ok"))
        records += positions.records(attempt(other, success=False, message="boom"))
        records += positions.records(attempt(first, success=False, message="bad"))
        records += positions.records(attempt(first, success=False, message="worse"))

        changes = project(records, {})

        assert [(r["tenant_id"], r["attempt"]) for r in changes.attempts] == [
            ("t1", 1),
            ("t2", 1),
            ("t1", 2),
            ("t1", 3),
        ]
        assert [r["position"] for r in changes.attempts] == [2, 4, 5, 6]
        assert set(changes.states) == changes.new_states == {key("t1"), key("t2")}
        mine = changes.states[key("t1")]
        assert (mine["attempts"], mine["failures"], mine["consecutive_failures"]) == (3, 2, 2)
        assert mine["state"] == int(DeploymentState.ERROR)
        assert mine["status_message"] == "worse"
        assert mine["last_position"] == 6
        assert mine["last_attempt_at"] == records[-1].data["timestamp"]
        assert mine["last_success_at"] == records[1].data["timestamp"]
        assert mine["last_failure_at"] == records[-1].data["timestamp"]
        assert changes.states[key("t2")]["last_position"] == 4

    def test_a_registration_already_in_the_view_or_the_batch_adds_no_second_row(self) -> None:
        [record] = Positions().records(Workload.register("t1", "rt-1"))
        existing = project([record], {}).states

        assert project([record, record], {}).states.keys() == {key()}
        again = project([record], existing)
        assert again.states == {}
        assert again.new_states == set()
        assert again.attempts == []

    def test_an_attempt_on_a_workload_in_the_view_continues_its_row_and_leaves_it_alone(
        self,
    ) -> None:
        positions = Positions()
        workload = attempt(Workload.register("t1", "rt-1"), success=False, message="a\x00b")
        existing = project(positions.records(workload), {}).states
        snapshot = {k: dict(v) for k, v in existing.items()}

        changes = project(positions.records(attempt(workload, message="fixed")), existing)

        assert existing == snapshot  # not modified
        assert changes.new_states == set()
        row = changes.states[key()]
        assert (row["attempts"], row["failures"], row["consecutive_failures"]) == (2, 1, 0)
        assert row["state"] == int(DeploymentState.DEPLOYED)
        assert (row["status_message"], row["status_message_exact"]) == ("fixed", None)
        assert row["last_failure_at"] == existing[key()]["last_failure_at"]
        assert row["last_position"] == 3
        assert snapshot[key()]["status_message_exact"] == b"a\x00b"

    def test_an_attempt_whose_registration_was_not_seen_still_gets_its_identity(self) -> None:
        workload = attempt(Workload.register("t1", "rt-1"), success=False)
        records = Positions().records(workload)

        changes = project(records[1:], {})

        assert changes.new_states == {key()}
        row = changes.states[key()]
        assert (row["tenant_id"], row["workload_rt_id"], row["workload_id"]) == (
            "t1",
            "rt-1",
            key(),
        )
        assert (row["attempts"], row["failures"]) == (1, 1)
        # The registration arriving later in the same batch does not reset the row.
        late = project([*records[1:], records[0]], {})
        assert late.states[key()]["attempts"] == 1

    def test_events_of_unknown_topics_are_skipped(self) -> None:
        records = Positions().records(attempt(Workload.register("t1", "rt-1")))
        unknown = [
            EventRecord(10, key("t9", "rt-9"), 1, "deployledger:Workload.Renamed", {"x": 1}),
            EventRecord(11, key(), 3, "deployledger:Workload.Snapshot", {}),
        ]

        changes = project([*records, *unknown], {})

        assert changes == project(records, {})
        assert project(unknown, {}).states == {}
        assert project(unknown, {}).attempts == []

    @settings(max_examples=60, deadline=None)
    @given(
        outcomes=st.lists(
            st.tuples(
                st.sampled_from([("t1", "rt-1"), ("t1", "rt-2"), ("t2", "rt-1")]),
                st.booleans(),
                st.one_of(st.none(), unicode_text),
                st.sampled_from(["pool-a", "pool-b", None]),
            ),
            min_size=1,
            max_size=25,
        ),
        cut=st.integers(min_value=0),
    )
    def test_any_split_into_two_batches_gives_the_rows_of_one_batch_and_of_the_aggregate(
        self, outcomes: list[tuple[tuple[str, str], bool, str | None, str | None]], cut: int
    ) -> None:
        positions = Positions()
        workloads: dict[tuple[str, str], Workload] = {}
        records: list[EventRecord] = []
        for (tenant, rtid), success, message, pool in outcomes:
            if (tenant, rtid) not in workloads:
                workloads[tenant, rtid] = Workload.register(tenant, rtid)
            workload = attempt(workloads[tenant, rtid], success=success, message=message, pool=pool)
            records += positions.records(workload)
        cut %= len(records) + 1

        whole = project(records, {})
        first = project(records[:cut], {})
        second = project(records[cut:], first.states)

        assert first.attempts + second.attempts == whole.attempts
        assert {**first.states, **second.states} == whole.states
        assert first.new_states | second.new_states == whole.new_states
        assert first.new_states.isdisjoint(second.new_states)
        for (tenant, rtid), workload in workloads.items():
            row = whole.states[key(tenant, rtid)]
            assert {f: row[f] for f in FOLDED} == {f: getattr(workload, f) for f in FOLDED}
            message = decode_message(row["status_message"], row["status_message_exact"])
            assert message == workload.status_message


@pytest.mark.parametrize("success", [True, False])
def test_the_state_label_of_an_attempt_row_follows_its_outcome(success: bool) -> None:
    records = Positions().records(attempt(Workload.register("t1", "rt-1"), success=success))
    row = project(records, {}).attempts[0]
    assert DeploymentState(row["state"]) == DeploymentState.after_attempt(success)
    assert row["success"] is success
