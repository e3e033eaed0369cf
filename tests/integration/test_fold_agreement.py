"""One fold, proven equal: the aggregate and the read model never disagree (both backends).

For any sequence of lifecycle messages (deploy requests, progress, outcomes, undeploys)
over a few workloads, recorded in random chunks, `Ledger.current()` (the aggregate's
fold) equals that workload's row of `Ledger.workloads()` (the projection's fold), field
by field, `history()` (the events) equals the workload's `audit()` rows (the read
model), both follow the lifecycle rules on the deployed chart and the last measured
duration (for outcomes with and without an open request), and a rebuild changes nothing.
SQLite gets a fresh file per example; PostgreSQL a tenant of its own per example in one
migrated database.
"""

from __future__ import annotations

import dataclasses
import tempfile
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from steps import record_in_chunks, steps
from support import migrated_sqlite, report

from deployledger import Ledger

STEP = steps("Error: UPGRADE FAILED: timed out")
SCENARIO = st.tuples(
    st.lists(STEP, min_size=1, max_size=25), st.lists(st.integers(1, 6), min_size=1, max_size=6)
)


def deployed_and_measured(timeline: list[Any]) -> tuple[tuple[Any, Any], float | None]:
    """The lifecycle rules, read off the timeline (newest first): the chart of the last
    success that closed a request, unless an undeploy came after it, and the duration of the
    last outcome that closed a request. Outcomes with no request open change neither."""
    chart: tuple[Any, Any] = (None, None)
    duration = None
    for event in reversed(timeline):
        if event.kind == "undeploy":
            chart = (None, None)
        elif event.kind == "outcome" and event.request_position is not None:
            duration = event.duration
            if event.success:
                chart = (event.chart_name, event.chart_version)
    return chart, duration


def check_agreement(
    url: str, tenant: str, scenario: tuple[list[dict[str, Any]], list[int]]
) -> None:
    steps, sizes = scenario
    with Ledger.open(url, create=True) as ledger:
        record_in_chunks(ledger, tenant, steps, sizes)
        fleet = {state.workload_rt_id: state for state in ledger.workloads(tenant_id=tenant)}
        assert set(fleet) == {s["rt"] for s in steps}
        for rt, row in fleet.items():
            current = ledger.current(tenant, rt)
            assert current is not None
            assert dataclasses.asdict(current) == dataclasses.asdict(row)
            history = ledger.history(tenant, rt)
            audited = ledger.audit(tenant_id=tenant, workload_rt_id=rt, limit=100).items
            assert history == audited
            assert [a.attempt for a in history] == list(range(current.attempts, 0, -1))
            timeline = ledger.timeline(tenant, rt)
            assert [e for e in timeline if e.kind == "outcome"] == history
            assert [e.position for e in timeline] == sorted(
                (e.position for e in timeline), reverse=True
            )
            assert deployed_and_measured(timeline) == (
                (current.deployed_chart_name, current.deployed_chart_version),
                current.last_duration,
            )
        before = [dataclasses.asdict(w) for w in ledger.workloads(tenant_id=tenant)]
        pages = ledger.audit(tenant_id=tenant, limit=1000).items
        ledger.rebuild()
        assert [dataclasses.asdict(w) for w in ledger.workloads(tenant_id=tenant)] == before
        assert ledger.audit(tenant_id=tenant, limit=1000).items == pages


SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class TestOneFold:
    @SETTINGS
    @given(scenario=SCENARIO)
    def test_current_equals_the_read_model_row_and_history_equals_the_audit_rows(
        self, ready_url: str, scenario: tuple[list[dict[str, Any]], list[int]]
    ) -> None:
        if ready_url.startswith("postgresql"):
            check_agreement(ready_url, f"tenant-{uuid.uuid4().hex[:10]}", scenario)
            return
        with tempfile.TemporaryDirectory() as folder:
            check_agreement(migrated_sqlite(Path(folder) / "ledger.db"), "tenant", scenario)

    def test_the_comparison_sees_a_read_model_row_that_disagrees(self, ready_url: str) -> None:
        from sqlalchemy import create_engine, text

        with Ledger.open(ready_url) as ledger:
            ledger.record_many([report("rt-alpha", success=False, message="boom")] * 2)
            row = ledger.workloads()[0]
            engine_url = ready_url.replace("postgresql://", "postgresql+psycopg://")
            engine = create_engine(engine_url)
            with engine.begin() as conn:
                conn.execute(text("UPDATE workload_state SET consecutive_failures = 7"))
            engine.dispose()
            ledger_row = ledger.workloads()[0]
            current = ledger.current(row.tenant_id, row.workload_rt_id)
        assert current is not None
        assert current.consecutive_failures == 2
        assert dataclasses.asdict(current) != dataclasses.asdict(ledger_row)
