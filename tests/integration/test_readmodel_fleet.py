"""The fleet table (issue 3, section 4): `ledger.workloads(...)`. (`deployledger status`:
tests/e2e.)

Expected answers come from a plain model (`support.Fleet`): each workload's state is that of
its latest report (Deployed after a success, Error after a failure), in the pool of its
latest report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from support import INJECTION, Fleet, fleet_of

from deployledger import DeploymentState, InvalidQuery


@pytest.fixture
def fleet(migrated_url: str) -> Iterator[Fleet]:
    """120 reports over 3 tenants and 8 runtime ids, recorded in batches of 30."""
    with fleet_of(migrated_url) as made:
        yield made


class TestFleetFilters:
    def test_without_filters_every_workload_is_listed_by_tenant_then_runtime_id(
        self, fleet: Fleet
    ) -> None:
        assert fleet.found() == fleet.expected()
        assert len(fleet.found()) == len(fleet.rows) > 15

    def test_each_filter_and_their_combinations_give_exactly_the_matching_workloads(
        self, fleet: Fleet
    ) -> None:
        assert fleet.expected(state="error")
        assert fleet.expected(tenant="acme", pool="pool-a")
        for tenant in (None, "acme", "globex", "initech", "nobody"):
            for pool in (None, "pool-a", "pool-b", "pool-z"):
                for state in (None, "error", "deployed"):
                    assert fleet.found(
                        tenant_id=tenant, pool_name=pool, state=state
                    ) == fleet.expected(tenant, pool, state), (tenant, pool, state)

    def test_state_labels_are_case_insensitive_and_the_enum_works_too(self, fleet: Fleet) -> None:
        errors = fleet.expected(state="error")
        deployed = fleet.expected(state="deployed")

        for label in ("error", "ERROR", "Error", "eRRoR", " error "):
            assert fleet.found(state=label) == errors, label
        assert fleet.found(state=DeploymentState.ERROR) == errors
        for label in ("deployed", "DEPLOYED", "Deployed"):
            assert fleet.found(state=label) == deployed, label
        for unlisted in ("pending", "Undeployed", DeploymentState.PENDING):
            assert fleet.found(state=unlisted) == []
        assert len(errors) + len(deployed) == len(fleet.rows)

    def test_a_workload_is_listed_in_the_pool_and_state_of_its_latest_report(
        self, fleet: Fleet
    ) -> None:
        base = {"tenantId": "acme", "workloadRtId": "rt-moving", "workloadName": "mover"}
        fleet.ledger.record(base | {"poolName": "pool-a", "success": False})
        assert [
            w.workload_rt_id for w in fleet.ledger.workloads(pool_name="pool-a", state="error")
        ].count("rt-moving") == 1

        fleet.ledger.record(base | {"poolName": "pool-b", "success": True})

        in_a = fleet.ledger.workloads(tenant_id="acme", pool_name="pool-a")
        in_b = fleet.ledger.workloads(tenant_id="acme", pool_name="pool-b", state="deployed")
        assert "rt-moving" not in [w.workload_rt_id for w in in_a]
        moving = [w for w in in_b if w.workload_rt_id == "rt-moving"]
        assert [(w.attempts, w.failures, w.consecutive_failures) for w in moving] == [(2, 1, 0)]

    def test_filter_values_are_data_never_sql(self, fleet: Fleet) -> None:
        for value in (INJECTION, "acme' --", "%", "_"):
            assert fleet.ledger.workloads(tenant_id=value) == []
            assert fleet.ledger.workloads(pool_name=value) == []
        fleet.ledger.record(
            {"tenantId": INJECTION, "workloadRtId": "rt-x", "workloadName": "x", "success": True}
        )
        assert [w.tenant_id for w in fleet.ledger.workloads(tenant_id=INJECTION)] == [INJECTION]

    def test_an_unknown_state_label_raises_invalid_query(self, fleet: Fleet) -> None:
        with pytest.raises(InvalidQuery, match="state"):
            fleet.ledger.workloads(state="exploded")


BAD_TEXT = [("a\x00b", "NUL"), ("a\ud800b", "surrogate"), (7, "must be text")]


class TestFilterText:
    """Text that no stored report can hold is a bad query on both backends, not a crash of
    the store (PostgreSQL rejects NUL in text, and neither store encodes a lone surrogate)."""

    @pytest.mark.parametrize(("bad", "reason"), BAD_TEXT)
    def test_every_read_call_answers_invalid_query_naming_the_argument(
        self, fleet: Fleet, bad: object, reason: str
    ) -> None:
        ledger = fleet.ledger
        calls: dict[str, Callable[[], object]] = {
            "pool_name": lambda: ledger.workloads(pool_name=bad),  # type: ignore[arg-type]
            "tenant_id": lambda: ledger.workloads(tenant_id=bad),  # type: ignore[arg-type]
            "pool": lambda: ledger.overdue(pool=bad),  # type: ignore[arg-type]
            "workload_name": lambda: ledger.audit(workload_name=bad),  # type: ignore[arg-type]
            "workload_rt_id": lambda: ledger.current("acme", bad),  # type: ignore[arg-type]
        }
        for name, call in calls.items():
            with pytest.raises(InvalidQuery, match=reason) as caught:
                call()
            assert name in str(caught.value)
        if reason != "NUL":  # grep may hold NUL: status messages can
            with pytest.raises(InvalidQuery, match=reason):
                ledger.audit(grep=bad)  # type: ignore[arg-type]
        assert ledger.timeline("acme", "x") == []  # the ledger still answers
