"""The `Workload` aggregate, its events, and the deployment state enum. No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.utils import get_topic, resolve_topic
from hypothesis import given, settings
from hypothesis import strategies as st
from support import EVERY_FIELD, parsed_report, progress, request

from deployledger import DeploymentState, parse_message
from deployledger.domain.workload.aggregate import (
    IDEMPOTENCY_WINDOW,
    Workload,
    workload_id,
)
from deployledger.store.events.compat import WorkloadSnapshot

safe_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)


def registered(tenant: str = "t1", rt_id: str = "64f1c0ffee0000000000beef") -> Workload:
    return Workload.register(tenant, rt_id)


def replay(events: Sequence[CanMutateAggregate[UUID]]) -> Workload:
    """A fresh aggregate rebuilt from its events alone."""
    aggregate: Aggregate | None = None
    for event in events:
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, Workload)
    return aggregate


class TestAggregateId:
    def test_the_id_is_deterministic_for_a_tenant_and_runtime_id(self) -> None:
        assert workload_id("t1", "rt-1") == workload_id("t1", "rt-1")
        assert isinstance(workload_id("t1", "rt-1"), UUID)
        assert workload_id("t1", "rt-1").version == 5

    def test_the_id_is_stable_across_releases(self) -> None:
        # Stored events are keyed by this id: it must never change.
        assert workload_id("t1", "64f1c0ffee0000000000beef") == UUID(
            "b4a24a78-8f8a-5048-8258-d73f94bd47b3"
        )

    def test_the_same_runtime_id_under_two_tenants_gives_two_workloads(self) -> None:
        assert workload_id("t1", "rt-1") != workload_id("t2", "rt-1")

    def test_no_separator_can_make_two_pairs_collide(self) -> None:
        assert workload_id("a:b", "c") != workload_id("a", "b:c")
        assert workload_id("a/b", "c") != workload_id("a", "b/c")
        assert workload_id('a", "b', "c") != workload_id("a", 'b", "c')

    def test_a_registered_workload_carries_that_id(self) -> None:
        assert registered("t1", "rt-1").id == workload_id("t1", "rt-1")

    @settings(max_examples=200)
    @given(safe_text, safe_text, safe_text, safe_text)
    def test_different_pairs_get_different_ids(self, a: str, b: str, c: str, d: str) -> None:
        assert (workload_id(a, b) == workload_id(c, d)) == ((a, b) == (c, d))


class TestEvents:
    def test_registering_emits_exactly_one_creation_event(self) -> None:
        workload = registered("t1", "rt-1")
        events = workload.collect_events()
        assert len(events) == 1
        assert isinstance(events[0], Workload.Registered)
        assert (events[0].tenant_id, events[0].workload_rt_id) == ("t1", "rt-1")
        assert events[0].originator_version == 1

    def test_each_report_emits_one_deployment_attempted_event_with_every_field(self) -> None:
        workload = registered()
        workload.collect_events()
        sent = parsed_report(**EVERY_FIELD)
        returned = workload.record(sent)
        events = workload.collect_events()
        assert events == [returned]
        event = events[0]
        assert isinstance(event, Workload.DeploymentAttempted)
        assert event.tenant_id == sent.tenant_id
        assert event.workload_rt_id == sent.workload_rt_id
        assert event.workload_name == "billing-api-v2"
        assert event.pool_name == "pool-b"
        assert event.success is False
        assert event.status_message == "Error: UPGRADE FAILED\n\x00 tab\there 🚀"
        assert event.message_id == "m-1"
        assert event.reported_at == sent.reported_at
        assert event.originator_version == 2

    def test_events_are_immutable(self) -> None:
        workload = registered()
        event = workload.record(parsed_report())
        assert isinstance(event, Workload.DeploymentAttempted)
        with pytest.raises(AttributeError):
            event.success = False

    def test_the_event_time_is_an_aware_clock_reading_not_the_reported_time(self) -> None:
        workload = registered()
        before = datetime.now(UTC)
        event = workload.record(parsed_report(reportedAt="2001-01-01T00:00:00Z"))
        after = datetime.now(UTC)
        assert event.timestamp.tzinfo is not None
        assert before <= event.timestamp <= after

    def test_attempt_numbers_count_outcomes_only(self) -> None:
        workload = registered()
        versions = [workload.record(parsed_report()).originator_version for _ in range(2)]
        workload.record(parse_message(request()))
        workload.record(parse_message(progress()))
        versions.append(workload.record(parsed_report()).originator_version)
        assert versions == [2, 3, 6]
        assert workload.attempts == 3
        assert workload.version == 6

    def test_a_replayed_aggregate_equals_the_live_one(self) -> None:
        workload = registered()
        workload.record(parsed_report(success=False, statusMessage="boom", messageId="a"))
        workload.record(parsed_report(success=True, workloadName="renamed", messageId="b"))
        rebuilt = replay(workload.collect_events())
        assert vars(rebuilt) == vars(workload)


class TestTopics:
    def test_the_aggregate_has_an_explicit_stable_topic(self) -> None:
        assert get_topic(Workload) == "deployledger:Workload"
        created = registered().collect_events()[0]
        assert isinstance(created, Workload.Registered)
        assert created.originator_topic == "deployledger:Workload"

    @pytest.mark.parametrize(
        ("event_class", "topic"),
        [
            (Workload.Registered, "deployledger:Workload.Registered"),
            (Workload.DeploymentAttempted, "deployledger:Workload.DeploymentAttempted"),
            (Workload.DeploymentRequested, "deployledger:Workload.DeploymentRequested"),
            (Workload.DeploymentProgressed, "deployledger:Workload.DeploymentProgressed"),
            (Workload.Undeployed, "deployledger:Workload.Undeployed"),
            (WorkloadSnapshot, "deployledger:Workload.Snapshot"),
        ],
    )
    def test_each_event_has_an_explicit_stable_topic(self, event_class: type, topic: str) -> None:
        assert get_topic(event_class) == topic
        assert resolve_topic(topic) is event_class

    def test_stored_events_carry_the_explicit_topics(self) -> None:
        app = Application[UUID](env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        try:
            workload = registered()
            workload.record(parsed_report())
            recordings = app.save(workload)
            topics = [app.mapper.to_stored_event(r.domain_event).topic for r in recordings]
            assert topics == [
                "deployledger:Workload.Registered",
                "deployledger:Workload.DeploymentAttempted",
            ]
            again: object = app.repository.get(workload.id)
            assert isinstance(again, Workload)
            assert again.attempts == 1
        finally:
            app.close()

    def test_topics_do_not_depend_on_module_paths(self) -> None:
        for cls in (Workload, Workload.Registered, Workload.DeploymentAttempted):
            assert "deployledger.domain" not in get_topic(cls)
        assert issubclass(Workload, Aggregate)


class TestDeploymentState:
    def test_the_values_mirror_the_upstream_enum(self) -> None:
        assert {s.name: s.value for s in DeploymentState} == {
            "UNDEPLOYED": 0,
            "PENDING": 1,
            "DEPLOYED": 2,
            "ERROR": 3,
        }

    def test_labels_are_the_upstream_names(self) -> None:
        assert [s.label for s in DeploymentState] == ["Undeployed", "Pending", "Deployed", "Error"]

    @pytest.mark.parametrize(
        ("text", "state"),
        [("deployed", DeploymentState.DEPLOYED), (" Error ", DeploymentState.ERROR)],
    )
    def test_labels_parse_case_insensitively(self, text: str, state: DeploymentState) -> None:
        assert DeploymentState.from_label(text) is state

    def test_an_unknown_label_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="unknown state"):
            DeploymentState.from_label("Running")

    def test_success_maps_to_deployed_and_failure_to_error(self) -> None:
        assert DeploymentState.after_attempt(True) is DeploymentState.DEPLOYED
        assert DeploymentState.after_attempt(False) is DeploymentState.ERROR

    def test_a_new_workload_is_undeployed(self) -> None:
        state = registered().state
        assert state == 0
        assert state == DeploymentState.UNDEPLOYED

    @pytest.mark.parametrize(("success", "state"), [(True, 2), (False, 3)])
    def test_an_attempt_sets_the_mapped_state(self, success: bool, state: int) -> None:
        workload = registered()
        workload.record(parsed_report(success=success))
        assert workload.state == state


class TestCountersAndCurrentValues:
    def test_a_new_workload_has_zero_counters_and_no_times(self) -> None:
        workload = registered()
        assert (workload.attempts, workload.failures, workload.consecutive_failures) == (0, 0, 0)
        assert workload.last_attempt_at is None
        assert workload.last_success_at is None
        assert workload.last_failure_at is None
        assert workload.workload_name is None
        assert workload.pool_name is None

    def test_counters_and_times_follow_successes_and_failures(self) -> None:
        workload = registered()
        outcomes = [True, False, False, True, False, False, False]
        events = [workload.record(parsed_report(success=s)) for s in outcomes]
        assert workload.attempts == 7
        assert workload.failures == 5
        assert workload.consecutive_failures == 3
        assert workload.last_attempt_at == events[6].timestamp
        assert workload.last_success_at == events[3].timestamp
        assert workload.last_failure_at == events[6].timestamp

    def test_a_success_resets_consecutive_failures(self) -> None:
        workload = registered()
        for success in (False, False, True):
            workload.record(parsed_report(success=success))
        assert workload.consecutive_failures == 0
        assert workload.failures == 2

    def test_the_latest_status_message_becomes_current(self) -> None:
        workload = registered()
        workload.record(parsed_report(success=False, statusMessage="boom"))
        assert workload.status_message == "boom"
        workload.record(parsed_report(success=True, statusMessage=None))
        assert workload.status_message is None

    def test_a_renamed_workload_and_a_moved_pool_become_current(self) -> None:
        workload = registered()
        first = workload.record(parsed_report(workloadName="old", poolName="pool-a"))
        second = workload.record(parsed_report(workloadName="new", poolName="pool-b"))
        assert isinstance(first, Workload.DeploymentAttempted)
        assert isinstance(second, Workload.DeploymentAttempted)
        assert (workload.workload_name, workload.pool_name) == ("new", "pool-b")
        # and each attempt keeps the value it was recorded with
        assert (first.workload_name, first.pool_name) == ("old", "pool-a")
        assert (second.workload_name, second.pool_name) == ("new", "pool-b")


class TestIdempotencyWindow:
    def test_the_window_is_ten_thousand_message_ids(self) -> None:
        assert IDEMPOTENCY_WINDOW == 10_000

    def test_a_recorded_message_id_maps_to_its_attempt(self) -> None:
        workload = registered()
        workload.record(parsed_report(messageId="a"))
        workload.record(parsed_report())
        workload.record(parsed_report(messageId="c"))
        assert workload.version_for("a") == 2  # version 1 registers the workload
        assert workload.version_for("c") == 4
        assert workload.version_for("b") is None
        assert workload.version_for(None) is None

    def test_the_latest_ten_thousand_are_kept_and_older_ones_forgotten(self) -> None:
        workload = registered()
        base = parsed_report()
        for n in range(IDEMPOTENCY_WINDOW + 5):
            workload.record(base.model_copy(update={"message_id": f"m{n}"}))
        for n in range(5):
            assert workload.version_for(f"m{n}") is None
        for n in range(5, IDEMPOTENCY_WINDOW + 5):
            assert workload.version_for(f"m{n}") == n + 2
        assert len(workload.message_ids) == IDEMPOTENCY_WINDOW

    def test_reports_without_a_message_id_take_no_room_in_the_window(self) -> None:
        workload = registered()
        workload.record(parsed_report(messageId="first"))
        base = parsed_report()
        for _ in range(IDEMPOTENCY_WINDOW + 1):
            workload.record(base)
        assert workload.version_for("first") == 2


def reference_fold(outcomes: list[bool], times: list[datetime]) -> dict[str, Any]:
    """The counters, computed the obvious way."""
    failures = [t for s, t in zip(outcomes, times, strict=True) if not s]
    successes = [t for s, t in zip(outcomes, times, strict=True) if s]
    streak = 0
    for success in outcomes:
        streak = 0 if success else streak + 1
    state = DeploymentState.UNDEPLOYED
    if outcomes:
        state = DeploymentState.DEPLOYED if outcomes[-1] else DeploymentState.ERROR
    return {
        "attempts": len(outcomes),
        "failures": len(failures),
        "consecutive_failures": streak,
        "state": state,
        "last_attempt_at": times[-1] if times else None,
        "last_success_at": successes[-1] if successes else None,
        "last_failure_at": failures[-1] if failures else None,
    }


class TestCounterProperty:
    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.booleans(), max_size=60))
    def test_counters_equal_a_reference_fold_for_any_sequence_of_outcomes(
        self, outcomes: list[bool]
    ) -> None:
        workload = registered()
        events = [workload.record(parsed_report(success=s)) for s in outcomes]
        expected = reference_fold(outcomes, [e.timestamp for e in events])
        actual = {name: getattr(workload, name) for name in expected}
        assert actual == expected
        rebuilt = replay(workload.collect_events())
        assert {name: getattr(rebuilt, name) for name in expected} == expected
