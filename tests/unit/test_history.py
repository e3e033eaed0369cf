"""The history rows of the fleet at a past moment (`deployledger.projections.history`):
one per folded event, the state right after it, with an effective time that never goes
backwards. Pure: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from support import parsed_report, progress, request, undeploy
from test_projection import Positions

from deployledger import parse_message
from deployledger.domain.workload.aggregate import Workload
from deployledger.projections.history import HISTORY_FIELDS, advance, history_row, memberships
from deployledger.projections.project import project
from deployledger.store.readmodel.tables import workload_history

BASE = datetime(2026, 1, 1, tzinfo=UTC)


class TestAdvance:
    @given(st.lists(st.integers(-10_000, 10_000), min_size=1, max_size=30))
    def test_the_effective_time_is_the_running_maximum_of_the_occurred_times(
        self, offsets: list[int]
    ) -> None:
        state: dict[str, object] = {"effective_at": None}
        zone = timezone(timedelta(hours=-8))
        for n, offset in enumerate(offsets, start=1):
            moment = (BASE + timedelta(seconds=offset)).astimezone(zone)
            effective = advance(state, moment)
            assert effective == BASE + timedelta(seconds=max(offsets[:n]))
            assert effective.utcoffset() == timedelta(0)

    def test_a_stored_time_without_a_zone_is_taken_as_utc(self) -> None:
        state: dict[str, object] = {"effective_at": datetime(2026, 1, 1, 12)}
        assert advance(state, datetime(2026, 1, 1, 11, tzinfo=UTC)) == datetime(
            2026, 1, 1, 12, tzinfo=UTC
        )


class TestProjectedHistory:
    def test_every_folded_event_gives_one_row_holding_the_state_after_it(self) -> None:
        positions = Positions()
        workload = Workload.register("t1", "rt-1")
        records = positions.records(workload)
        sent = [
            request("rt-1", tenant="t1", reportedAt="2026-01-01T10:00:00Z"),
            progress("rt-1", tenant="t1", reportedAt="2026-01-01T10:01:00Z"),
            None,
            undeploy("rt-1", tenant="t1", reportedAt="2026-01-01T09:00:00Z"),
        ]
        for message in sent:
            if message is None:
                workload.record(
                    parsed_report("rt-1", tenant="t1", reportedAt="2026-01-01T10:02:00Z")
                )
            else:
                workload.record(parse_message(message))
            records += positions.records(workload)

        changes = project(records, {})

        assert [row["position"] for row in changes.history] == [2, 3, 4, 5]
        assert [row["state"] for row in changes.history] == [1, 1, 2, 0]
        assert [row["effective_at"].minute for row in changes.history] == [0, 1, 2, 2]
        assert set(changes.history[0]) == {c.name for c in workload_history.columns}
        final = changes.states[workload.id.hex]
        assert final["effective_at"] == changes.history[-1]["effective_at"]
        assert changes.pools == {("pool-rt-1", "t1", "rt-1"), ("pool-a", "t1", "rt-1")}

    def test_a_registration_alone_has_no_history(self) -> None:
        changes = project(Positions().records(Workload.register("t1", "rt-1")), {})
        assert changes.history == []
        assert changes.pools == set()

    def test_memberships_name_the_pool_and_the_pool_runtime_id(self) -> None:
        state = {
            "tenant_id": "t",
            "workload_rt_id": "w",
            "pool_name": None,
            "pool_rt_id": "p-rt",
            "effective_at": BASE,
        }
        state |= {k: None for k in ("workload_name", "state", "status_message")}
        assert memberships(state) == {("p-rt", "t", "w")}
        assert memberships({**state, "pool_rt_id": None}) == set()
        row = history_row({**dict.fromkeys(HISTORY_FIELDS), **state}, 9)
        assert (row["position"], row["effective_at"], row["pool_rt_id"]) == (9, BASE, "p-rt")
