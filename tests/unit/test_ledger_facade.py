"""The facade's own logic over in-memory fakes of its two ports: no database.

Duplicates, the optimistic retry on a version conflict, the cache and the argument
errors live in `Ledger` itself; these tests pin them without any storage.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fakes import FakeEventStore, FakeReadModel
from support import report

from deployledger import InvalidQuery, InvalidStoreURL, Ledger, StoreURL, WorkloadNotFound
from deployledger.domain.auditfilter import AuditFilter
from deployledger.domain.workload.state import DeploymentState
from deployledger.errors import WriteConflict
from deployledger.service.ports import EventStorePort, ReadModelPort


@pytest.fixture
def store() -> FakeEventStore:
    return FakeEventStore()


@pytest.fixture
def read_model(store: FakeEventStore) -> FakeReadModel:
    return FakeReadModel(store)


@pytest.fixture
def ledger(store: FakeEventStore, read_model: FakeReadModel) -> Ledger:
    return Ledger(store, read_model)


def test_the_fakes_satisfy_the_ports() -> None:
    store = FakeEventStore()
    events: EventStorePort = store
    read_model: ReadModelPort = FakeReadModel(store)
    assert Ledger(events, read_model).url.backend == "sqlite"


class TestWrites:
    def test_attempts_are_numbered_per_workload_and_positions_follow(self, ledger: Ledger) -> None:
        receipts = ledger.record_many([report("a"), report("b"), report("a", success=False)])
        assert [(r.workload_rt_id, r.attempt) for r in receipts] == [("a", 1), ("b", 1), ("a", 2)]
        assert receipts[2].state is DeploymentState.ERROR

    def test_a_repeated_message_id_is_a_duplicate_of_the_original_attempt(
        self, ledger: Ledger, store: FakeEventStore
    ) -> None:
        first = ledger.record(report("a", messageId="m-1"))
        ledger.record(report("a"))
        again = ledger.record(report("a", messageId="m-1"))
        assert again.duplicate
        assert (again.attempt, again.position) == (first.attempt, first.position)
        assert store.max_position() == 3  # registration and two attempts: nothing more

    def test_a_version_conflict_reloads_and_replays_the_batch(
        self, ledger: Ledger, store: FakeEventStore
    ) -> None:
        ledger.record(report("a"))
        store.conflicts_to_inject = 2
        receipt = ledger.record(report("a", success=False))
        assert receipt.attempt == 2
        assert store.saves == 4  # one, then two conflicts and the winning try

    def test_a_conflict_that_never_ends_gives_up_with_write_conflict(
        self, store: FakeEventStore
    ) -> None:
        store.url = StoreURL.parse("sqlite:///:memory:?lock_timeout=0.05")
        ledger = Ledger(store, FakeReadModel(store))
        store.conflicts_to_inject = 10**9
        with pytest.raises(WriteConflict, match="gave up after"):
            ledger.record(report("a"))

    def test_a_cached_workload_is_not_loaded_again(
        self, ledger: Ledger, store: FakeEventStore
    ) -> None:
        for _ in range(5):
            ledger.record(report("a"))
        assert store.loads == 1  # only the first, cold write loads; the rest use the cache

    def test_another_writers_events_are_seen_by_current(
        self, ledger: Ledger, store: FakeEventStore
    ) -> None:
        ledger.record(report("a"))
        other = Ledger(store, FakeReadModel(store))
        other.record(report("a", success=False, message="boom"))
        state = ledger.get("t1", "a")
        assert (state.attempts, state.status_message) == (2, "boom")


class TestReads:
    def test_get_raises_workload_not_found_for_an_unknown_workload(self, ledger: Ledger) -> None:
        assert ledger.current("t1", "nope") is None
        with pytest.raises(WorkloadNotFound, match="t1/nope"):
            ledger.get("t1", "nope")

    def test_history_is_newest_first_and_honours_limit_and_before(self, ledger: Ledger) -> None:
        ledger.record_many([report("a", message=f"m{n}") for n in range(1, 5)])
        assert [a.attempt for a in ledger.history("t1", "a")] == [4, 3, 2, 1]
        assert [a.attempt for a in ledger.history("t1", "a", limit=2, before_attempt=4)] == [3, 2]

    def test_a_negative_history_limit_is_an_invalid_query(self, ledger: Ledger) -> None:
        with pytest.raises(InvalidQuery, match="limit"):
            ledger.history("t1", "a", limit=-1)

    def test_an_unknown_state_filter_is_an_invalid_query(self, ledger: Ledger) -> None:
        with pytest.raises(InvalidQuery, match="unknown state"):
            ledger.workloads(state="sideways")

    def test_close_closes_both_ports(self, store: FakeEventStore) -> None:
        read_model = FakeReadModel(store)
        Ledger(store, read_model).close()
        assert read_model.closed


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_message_bytes", 0), ("snapshot_interval", -1), ("cache_size", -1)],
)
def test_open_rejects_a_bad_setting_with_invalid_store_url(option: str, value: int) -> None:
    settings: dict[str, Any] = {option: value}
    with pytest.raises(InvalidStoreURL, match=option):
        Ledger.open("sqlite:///:memory:", **settings)


LOCK = "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"
TIMEOUT = "Error: UPGRADE FAILED: timed out waiting for the condition"


def ago(**delta: float) -> str:
    """A reportedAt that long before now."""
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


class TestFailures:
    @pytest.fixture
    def failed(self, ledger: Ledger) -> Ledger:
        ledger.record_many(
            [
                report("a", tenant="t1", success=False, message=LOCK, reportedAt=ago(days=3)),
                report("b", tenant="t2", success=False, message=LOCK, reportedAt=ago(hours=1)),
                report("b", tenant="t2", success=False, message=LOCK, reportedAt=ago(hours=1)),
                report("c", tenant="t3", success=False, message=TIMEOUT, reportedAt=ago(hours=1)),
                report("c", tenant="t3", success=True, reportedAt=ago(minutes=1)),
            ]
        )
        return ledger

    def test_groups_come_largest_first_and_limit_keeps_the_largest(self, failed: Ledger) -> None:
        groups = failed.failures()
        assert [(g.category, g.attempts, g.workloads) for g in groups] == [
            ("lock-held", 3, 2),
            ("wait-timeout", 1, 1),
        ]
        assert [g.category for g in failed.failures(limit=1)] == ["lock-held"]

    def test_several_tenants_are_asked_for_at_once_and_one_as_itself(
        self, failed: Ledger, read_model: FakeReadModel
    ) -> None:
        (group,) = failed.failures(tenant_id=("t2", "t3"), category="lock-held")
        assert (group.tenants, group.attempts, group.still_failing) == (("t2",), 2, 1)
        failed.failures(tenant_id="t1")
        asked = [args["tenant_id"] for name, args in read_model.calls if name == "failures"]
        assert asked == [("t2", "t3"), "t1"]

    def test_a_timedelta_since_means_that_long_ago(
        self, failed: Ledger, read_model: FakeReadModel
    ) -> None:
        before = datetime.now(UTC)
        groups = failed.failures(since=timedelta(days=1))
        assert [(g.category, g.attempts) for g in groups] == [("lock-held", 2), ("wait-timeout", 1)]
        since = read_model.calls[-1][1]["since"]
        assert before - timedelta(days=1) <= since <= datetime.now(UTC) - timedelta(days=1)

    def test_the_category_is_case_insensitive(self, failed: Ledger) -> None:
        assert [g.category for g in failed.failures(category="WAIT-Timeout")] == ["wait-timeout"]

    @pytest.mark.parametrize(
        ("arguments", "reason"),
        [
            ({"limit": 0}, "limit must be an integer from 1 to 10000"),
            ({"limit": True}, "limit must be an integer from 1 to 10000"),
            ({"limit": 2.5}, "limit must be an integer from 1 to 10000"),
            ({"category": "sideways"}, "unknown failure category"),
            ({"since": timedelta(days=-1)}, "negative duration"),
            ({"since": datetime(2024, 1, 1)}, "needs a time zone"),
            ({"tenant_id": 42}, "tenant_id must be text or a sequence"),
            ({"tenant_id": ["t1", 42]}, "each tenant_id must be text"),
        ],
    )
    def test_bad_arguments_are_invalid_queries_that_never_reach_the_read_model(
        self, ledger: Ledger, read_model: FakeReadModel, arguments: dict[str, Any], reason: str
    ) -> None:
        with pytest.raises(InvalidQuery, match=reason):
            ledger.failures(**arguments)
        assert read_model.calls == []


class TestStats:
    @pytest.fixture
    def deployed(self, ledger: Ledger) -> Ledger:
        ledger.record_many(
            [
                report("a", tenant="t1", success=False, message=LOCK, reportedAt=ago(days=40)),
                report("a", tenant="t1", success=False, message=LOCK, reportedAt=ago(days=5)),
                report("a", tenant="t1", success=True, reportedAt=ago(days=4)),
                report("b", tenant="t2", pool="p2", success=True, reportedAt=ago(days=2)),
                report("c", tenant="t3", success=False, message=LOCK, reportedAt=ago(days=1)),
            ]
        )
        return ledger

    def test_the_default_period_is_the_last_30_days_until_now(
        self, deployed: Ledger, read_model: FakeReadModel
    ) -> None:
        before = datetime.now(UTC)
        stats = deployed.stats()
        after = datetime.now(UTC)
        assert [(s.key, s.successes, s.failures) for s in stats] == [
            ("t1", 1, 1),
            ("t2", 1, 0),
            ("t3", 0, 1),
        ]
        # t1's run of failures began 40 days ago, before the period, and ended in it.
        assert stats[0].recoveries == 1
        assert stats[0].recovery_median == pytest.approx(36 * 86400, abs=5)
        asked = read_model.calls[-1][1]
        assert before - timedelta(days=30) <= asked["since"] <= after - timedelta(days=30)
        assert before <= asked["until"] <= after

    def test_tenants_pool_and_grouping_reach_the_read_model(
        self, deployed: Ledger, read_model: FakeReadModel
    ) -> None:
        stats = deployed.stats(by="pool", tenant_id=["t2", "t3"])
        assert [(s.key, s.successes + s.failures) for s in stats] == [("p2", 1), ("pool-a", 1)]
        assert read_model.calls[-1][1]["tenants"] == ("t2", "t3")
        (only,) = deployed.stats(tenant_id="t2", pool="p2", since=timedelta(days=3))
        assert (only.key, only.successes) == ("t2", 1)
        assert deployed.stats(tenant_id="t2", since=timedelta(days=1))[0:1] == []

    @pytest.mark.parametrize(
        ("arguments", "reason"),
        [
            ({"by": "colour"}, "by must be one of tenant, pool, workload, chart"),
            (
                {"since": timedelta(days=1), "until": datetime.now(UTC) - timedelta(days=2)},
                "must be before until",
            ),
            ({"since": timedelta(0)}, "must be before until"),
            ({"until": datetime(2024, 1, 1)}, "until .* needs a time zone"),
            ({"since": timedelta(days=-1)}, "negative duration"),
            ({"tenant_id": [None]}, "each tenant_id must be text"),
        ],
    )
    def test_bad_arguments_are_invalid_queries_that_never_reach_the_read_model(
        self, ledger: Ledger, read_model: FakeReadModel, arguments: dict[str, Any], reason: str
    ) -> None:
        with pytest.raises(InvalidQuery, match=reason):
            ledger.stats(**arguments)
        assert read_model.calls == []


class TestSeveralTenants:
    @pytest.fixture
    def spread(self, ledger: Ledger) -> Ledger:
        # Positions interleave the tenants: t1 a, t2 b, t3 c, then again.
        for round_ in range(2):
            for tenant, rt_id in (("t1", "a"), ("t2", "b"), ("t3", "c")):
                failed = round_ == 1 and tenant != "t3"
                ledger.record(
                    report(
                        rt_id, tenant=tenant, success=not failed, message=LOCK if failed else None
                    )
                )
        return ledger

    def test_audit_iter_merges_the_tenants_newest_first_once_each(
        self, spread: Ledger, read_model: FakeReadModel
    ) -> None:
        merged = list(spread.audit_iter(tenant_id=["t2", "t1", "t2"]))
        assert [(a.tenant_id, a.attempt) for a in merged] == [
            ("t2", 2),
            ("t1", 2),
            ("t2", 1),
            ("t1", 1),
        ]
        positions = [a.position for a in merged]
        assert positions == sorted(positions, reverse=True)
        # One query per tenant, each asked once, in order; the facade merges them.
        asked = [args["query"].tenants for name, args in read_model.calls if name == "audit_iter"]
        assert asked == [("t2",), ("t1",)]

    def test_audit_iter_applies_every_filter_to_each_tenant(
        self, spread: Ledger, read_model: FakeReadModel
    ) -> None:
        merged = list(spread.audit_iter(tenant_id=["t1", "t3"], category="LOCK-HELD"))
        assert [(a.tenant_id, a.attempt) for a in merged] == [("t1", 2)]
        queries = [args["query"] for name, args in read_model.calls if name == "audit_iter"]
        assert {q.category for q in queries} == {"lock-held"}

    def test_one_tenant_or_none_is_one_query(
        self, spread: Ledger, read_model: FakeReadModel
    ) -> None:
        assert len(list(spread.audit_iter(tenant_id=["t3"]))) == 2
        assert len(list(spread.audit_iter())) == 6
        asked = [args["query"] for name, args in read_model.calls if name == "audit_iter"]
        assert [q.tenants for q in asked] == [("t3",), None]

    def test_audit_csv_gets_the_tenants_and_writes_only_theirs(self, spread: Ledger) -> None:
        text = b"".join(spread.audit_csv(tenant_id=("t3", "t1"), success=True)).decode()
        rows = text.split("\r\n")[1:-1]
        assert len(rows) == 3
        assert not any(",t2," in row for row in rows)

    def test_several_tenants_fleet_is_merged_by_tenant_then_runtime_id(
        self, spread: Ledger, read_model: FakeReadModel
    ) -> None:
        fleet = spread.workloads(tenant_id=["t3", "t1", "t3"], state="deployed")
        assert [(s.tenant_id, s.workload_rt_id) for s in fleet] == [("t3", "c")]
        fleet = spread.workloads(tenant_id=["t3", "t1"])
        assert [s.tenant_id for s in fleet] == ["t1", "t3"]
        assert sorted(a["tenant_id"] for n, a in read_model.calls if n == "fleet") == [
            "t1",
            "t1",
            "t3",
            "t3",
        ]

    def test_bad_export_arguments_are_invalid_queries(
        self, ledger: Ledger, read_model: FakeReadModel
    ) -> None:
        with pytest.raises(InvalidQuery, match="each tenant_id must be text"):
            ledger.audit_iter(tenant_id=["t1", 7])  # type: ignore[list-item]  # deliberately
        with pytest.raises(InvalidQuery, match="unknown failure category"):
            ledger.audit_iter(tenant_id=["t1", "t2"], category="nope")
        assert read_model.calls == []


def test_the_audit_query_of_a_page_carries_every_filter(
    ledger: Ledger, read_model: FakeReadModel
) -> None:
    ledger.record(report("a", success=False, message=LOCK))
    page = ledger.audit(tenant_id="t1", success=False, category="Lock-Held", limit=5)
    assert [a.workload_rt_id for a in page.items] == ["a"]
    (query,) = [args["query"] for name, args in read_model.calls if name == "audit"]
    assert query == AuditFilter(tenants=["t1"], success=False, category="lock-held")
