"""The fleet at a past moment (issue 10, section 3): `workloads(at=)`, `current(at=)`,
`get(at=)`, on both backends, against a replay computed here.

The replay: messages are recorded one at a time; each stored event's effective time is the
running maximum of its occurred time (reportedAt, else the receipt's recording time) over
its workload's events; the state as of T is the state after the workload's last event
whose effective time is <= T. That state is checked two ways: field by field against a
plain model of the lifecycle written here, and whole against `current()` (the aggregate)
taken right after the event. The answers must survive a rebuild and the 0008 backfill.
"""

from __future__ import annotations

import random
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from steps import message
from support import engine_for, migrated_sqlite, report
from test_fold_agreement import STEP

from deployledger import DeploymentState, InvalidQuery, Ledger, WorkloadNotFound, WorkloadState
from deployledger.migrations.runner import downgrade, upgrade
from deployledger.store.readmodel.tables import workload_history, workload_pools, workload_state

TICK = timedelta(microseconds=1)
POOLS = ["pool-a", "pool-b", "pool-rt-1", "nowhere"]
LABELS = {
    "deployed": DeploymentState.DEPLOYED,
    "error": DeploymentState.ERROR,
    "pending": DeploymentState.PENDING,
    "undeployed": DeploymentState.UNDEPLOYED,
}


@dataclass
class Model:
    """The lifecycle as the README tells it, for the fields a reader looks at."""

    state: DeploymentState = DeploymentState.UNDEPLOYED
    attempts: int = 0
    failures: int = 0
    in_a_row: int = 0
    pool_name: str | None = None
    pool_rt_id: str | None = None
    message: str | None = None

    def apply(self, step: dict[str, Any]) -> None:
        kind = step["kind"]
        if kind == "outcome":
            ok = step["success"]
            self.state = DeploymentState.DEPLOYED if ok else DeploymentState.ERROR
            self.attempts += 1
            self.failures += 0 if ok else 1
            self.in_a_row = 0 if ok else self.in_a_row + 1
            self.pool_name = step["pool"]
            self.message = step["message"]
        elif kind == "request":
            self.state, self.message = DeploymentState.PENDING, None
            self.pool_rt_id = step["pool"] or self.pool_rt_id
        elif kind == "progress":
            self.state, self.message = DeploymentState.PENDING, step["message"] or "waiting"
        else:
            self.state, self.message = DeploymentState.UNDEPLOYED, None
            self.pool_rt_id = step["pool"] or self.pool_rt_id

    def fields(self) -> tuple[Any, ...]:
        return (
            self.state,
            self.attempts,
            self.failures,
            self.in_a_row,
            self.pool_name,
            self.pool_rt_id,
            self.message,
        )


def fields_of(state: WorkloadState) -> tuple[Any, ...]:
    return (
        state.state,
        state.attempts,
        state.failures,
        state.consecutive_failures,
        state.pool_name,
        state.pool_rt_id,
        state.status_message,
    )


@dataclass
class Replay:
    """Each stored event of a tenant's workloads: (effective time, state after, model after)."""

    tenant: str
    steps: dict[str, list[tuple[datetime, WorkloadState, tuple[Any, ...]]]] = field(
        default_factory=dict
    )

    def as_of(self, at: datetime) -> dict[str, WorkloadState]:
        found = {}
        for rt, steps in self.steps.items():
            before = [state for effective, state, _ in steps if effective <= at]
            if before:
                found[rt] = before[-1]
        return found

    def model_as_of(self, at: datetime) -> dict[str, tuple[Any, ...]]:
        found = {}
        for rt, steps in self.steps.items():
            before = [fields for effective, _, fields in steps if effective <= at]
            if before:
                found[rt] = before[-1]
        return found

    def instants(self) -> list[datetime]:
        times = {effective for steps in self.steps.values() for effective, _, _ in steps}
        edges = {t + d for t in times for d in (-TICK, timedelta(0))}
        return sorted(edges | {datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + TICK})


def record_and_replay(ledger: Ledger, tenant: str, steps: list[dict[str, Any]]) -> Replay:
    replay = Replay(tenant)
    models: dict[str, Model] = {}
    effective: dict[str, datetime] = {}
    for step in steps:
        sent = message(tenant, step)
        receipt = ledger.record(sent)
        if receipt.duplicate:
            continue
        rt = step["rt"]
        occurred = (
            datetime.fromisoformat(step["reportedAt"])
            if step["reportedAt"]
            else receipt.recorded_at
        )
        effective[rt] = max(effective.get(rt, occurred), occurred)
        model = models.setdefault(rt, Model())
        model.apply(step)
        current = ledger.current(tenant, rt)
        assert current is not None
        replay.steps.setdefault(rt, []).append((effective[rt], current, model.fields()))
    return replay


def check_as_of(ledger: Ledger, replay: Replay) -> int:
    """Every answer as of every interesting instant; returns how many instants were checked."""
    tenant = replay.tenant
    instants = replay.instants()
    for at in instants:
        expected = replay.as_of(at)
        assert {rt: fields_of(s) for rt, s in expected.items()} == replay.model_as_of(at)
        fleet = ledger.workloads(tenant_id=tenant, at=at)
        assert fleet == [expected[rt] for rt in sorted(expected)], at
        for rt in replay.steps:
            assert ledger.current(tenant, rt, at=at) == expected.get(rt), (rt, at)
        for pool in POOLS:
            wanted = [
                expected[rt]
                for rt in sorted(expected)
                if pool in (expected[rt].pool_name, expected[rt].pool_rt_id)
            ]
            assert ledger.workloads(tenant_id=[tenant], pool_name=pool, at=at) == wanted
        for label, state in LABELS.items():
            wanted = [expected[rt] for rt in sorted(expected) if expected[rt].state is state]
            assert ledger.workloads(tenant_id=tenant, state=label, at=at) == wanted
    return len(instants)


SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class TestAsOfAgainstAReplay:
    @SETTINGS
    @given(steps=st.lists(STEP, min_size=1, max_size=14))
    def test_every_answer_as_of_any_instant_is_the_state_after_the_last_event_by_then(
        self, ready_url: str, steps: list[dict[str, Any]]
    ) -> None:
        if ready_url.startswith("postgresql"):
            tenant = f"tenant-{uuid.uuid4().hex[:10]}"
            with Ledger.open(ready_url) as ledger:
                check_as_of(ledger, record_and_replay(ledger, tenant, steps))
            return
        with (
            tempfile.TemporaryDirectory() as folder,
            Ledger.open(migrated_sqlite(Path(folder) / "ledger.db"), create=True) as ledger,
        ):
            check_as_of(ledger, record_and_replay(ledger, "tenant", steps))


def seeded_steps(seed: int, count: int) -> list[dict[str, Any]]:
    """A fixed random scenario: every kind of message, clocks going back and forth."""
    rng = random.Random(seed)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    steps = []
    for _ in range(count):
        reported = None
        if rng.random() < 0.8:
            moment = base + timedelta(minutes=rng.randint(0, 5000))
            reported = moment.astimezone(rng.choice(zones)).isoformat()
        steps.append(
            {
                "kind": rng.choice(["outcome", "outcome", "request", "progress", "undeploy"]),
                "chart": rng.choice(["1.0.0", "1.1.0"]),
                "rt": rng.choice(["rt-alpha", "rt-beta", "rt-gamma", "rt-delta"]),
                "success": rng.random() < 0.6,
                "message": rng.choice([None, "Error: UPGRADE FAILED: timed out", "ok", "a\x00b"]),
                "pool": rng.choice([None, "pool-a", "pool-b"]),
                "name": "api",
                "resend": False,
                "reportedAt": reported,
            }
        )
    return steps


def history_rows(engine: Engine) -> tuple[list[Any], list[Any], list[Any]]:
    with engine.connect() as conn:
        return (
            [tuple(r) for r in conn.execute(select(workload_history).order_by("position"))],
            sorted(tuple(r) for r in conn.execute(select(workload_pools))),
            sorted(
                tuple(r)
                for r in conn.execute(
                    select(
                        workload_state.c.workload_id,
                        workload_state.c.effective_at,
                    )
                )
            ),
        )


@pytest.fixture
def replayed(migrated_url: str) -> tuple[str, Replay]:
    with Ledger.open(migrated_url, create=True) as ledger:
        replay = record_and_replay(ledger, "acme", seeded_steps(7, 60))
    return migrated_url, replay


class TestTheHistorySurvives:
    def test_a_rebuild_gives_the_same_answers_and_the_same_rows(
        self, replayed: tuple[str, Replay]
    ) -> None:
        url, replay = replayed
        with Ledger.open(url) as ledger, engine_for(url) as engine:
            assert check_as_of(ledger, replay) > 20
            before = history_rows(engine)
            assert len(before[0]) == 60
            ledger.rebuild()
            assert history_rows(engine) == before
            check_as_of(ledger, replay)

    def test_the_0008_migration_backfills_what_the_projection_wrote(
        self, replayed: tuple[str, Replay]
    ) -> None:
        url, replay = replayed
        with engine_for(url) as engine:
            with Ledger.open(url) as ledger:
                ledger.catch_up()
            before = history_rows(engine)
            with engine.begin() as conn:
                downgrade(conn, "0006")
            with engine.begin() as conn:
                upgrade(conn, "head")
            assert history_rows(engine) == before
        with Ledger.open(url) as ledger:
            check_as_of(ledger, replay)


class TestAsOfInputs:
    def test_a_time_without_a_zone_or_not_a_time_is_an_invalid_query(self, ledger: Ledger) -> None:
        ledger.record(report("rt-1"))
        for bad in (datetime(2026, 1, 1), "2026-01-01T00:00:00Z", 5):
            with pytest.raises(InvalidQuery):
                ledger.workloads(at=bad)  # type: ignore[arg-type]
            with pytest.raises(InvalidQuery):
                ledger.current("acme", "rt-1", at=bad)  # type: ignore[arg-type]

    def test_before_its_first_event_a_workload_is_not_found(self, ledger: Ledger) -> None:
        receipt = ledger.record(report("rt-1", tenant="acme"))
        earlier = receipt.recorded_at - timedelta(seconds=1)
        assert ledger.workloads(at=earlier) == []
        assert ledger.current("acme", "rt-1", at=earlier) is None
        with pytest.raises(WorkloadNotFound, match="by "):
            ledger.get("acme", "rt-1", at=earlier)
        assert ledger.get("acme", "rt-1", at=receipt.recorded_at).attempts == 1

    def test_a_time_in_another_zone_means_the_same_instant(self, ledger: Ledger) -> None:
        ledger.record(report("rt-1", tenant="acme", reportedAt="2026-01-01T12:00:00+00:00"))
        ledger.record(
            report("rt-1", tenant="acme", success=False, reportedAt="2026-01-01T13:00:00+00:00")
        )
        india = timezone(timedelta(hours=5, minutes=30))
        at = datetime(2026, 1, 1, 18, 0, tzinfo=india)  # 12:30 UTC
        assert ledger.get("acme", "rt-1", at=at).state is DeploymentState.DEPLOYED
        assert ledger.get("acme", "rt-1", at=at + timedelta(hours=1)).state is (
            DeploymentState.ERROR
        )

    def test_a_late_report_with_an_old_clock_takes_effect_when_its_predecessor_did(
        self, ledger: Ledger
    ) -> None:
        ledger.record(report("rt-1", tenant="acme", reportedAt="2026-01-01T13:00:00+00:00"))
        ledger.record(
            report("rt-1", tenant="acme", success=False, reportedAt="2026-01-01T12:00:00+00:00")
        )
        noon = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
        assert ledger.current("acme", "rt-1", at=noon) is None
        late = ledger.get("acme", "rt-1", at=datetime(2026, 1, 1, 13, tzinfo=UTC))
        assert late.state is DeploymentState.ERROR
        assert late.attempts == 2

    def test_several_tenants_are_any_of_them_with_or_without_a_moment(self, ledger: Ledger) -> None:
        for tenant in ("globex", "acme", "initech"):
            ledger.record(report("rt-1", tenant=tenant, reportedAt="2026-01-01T12:00:00Z"))
        at = datetime(2026, 1, 2, tzinfo=UTC)
        for moment in (None, at):
            two = ledger.workloads(tenant_id=("initech", "acme"), at=moment)
            assert [s.tenant_id for s in two] == ["acme", "initech"]
            assert ledger.workloads(tenant_id=[], at=moment) == []
            assert ledger.workloads(tenant_id=["acme"], at=moment) == ledger.workloads(
                tenant_id="acme", at=moment
            )
            for bad in (5, b"acme", ["acme", "a\x00"], [None]):
                with pytest.raises(InvalidQuery):
                    ledger.workloads(tenant_id=bad, at=moment)  # type: ignore[arg-type]
