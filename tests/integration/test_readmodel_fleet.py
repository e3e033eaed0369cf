"""The fleet table (issue 3, section 4): `ledger.workloads(...)` and `deployledger status`.

Expected answers come from a plain model: each workload's state is that of its latest
report (Deployed after a success, Error after a failure), in the pool of its latest report.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deployledger import DeploymentState, InvalidQuery, Ledger

CLI = str(Path(sys.executable).parent / "deployledger")
INJECTION = "x' OR '1'='1"
Key = tuple[str, str]


@dataclass
class Model:
    """Per workload: state label, pool, attempts, failures, consecutive failures, message."""

    rows: dict[Key, dict[str, Any]]

    def expected(
        self, tenant: str | None = None, pool: str | None = None, state: str | None = None
    ) -> list[tuple[Any, ...]]:
        return [
            summary(key, row)
            for key, row in sorted(self.rows.items())
            if tenant in (None, key[0])
            and pool in (None, row["poolName"])
            and state in (None, row["state"].lower())
        ]


def summary(key: Key, row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        *key,
        row["state"],
        row["poolName"],
        row["attempts"],
        row["failures"],
        row["consecutiveFailures"],
        row["statusMessage"],
    )


def found(ledger: Ledger, **filters: Any) -> list[tuple[Any, ...]]:
    states = ledger.workloads(**filters)
    return [summary((s.tenant_id, s.workload_rt_id), s.to_json()) for s in states]


def make_reports(count: int) -> list[dict[str, Any]]:
    rng = random.Random(11)
    reports = []
    for i in range(count):
        reports.append(
            {
                "tenantId": rng.choice(["acme", "globex", "initech"]),
                "workloadRtId": f"rt-{rng.randrange(8)}",
                "workloadName": f"name-{i % 4}",
                "poolName": rng.choice([None, "pool-a", "pool-b"]),
                "success": rng.random() < 0.6,
                "statusMessage": rng.choice(["ok", "UPGRADE FAILED", None, "ärger"]),
            }
        )
    return reports


def fold(reports: list[dict[str, Any]]) -> Model:
    rows: dict[Key, dict[str, Any]] = {}
    for rep in reports:
        row = rows.setdefault(
            (rep["tenantId"], rep["workloadRtId"]),
            {"attempts": 0, "failures": 0, "consecutiveFailures": 0},
        )
        row["attempts"] += 1
        row["poolName"] = rep["poolName"]
        row["statusMessage"] = rep["statusMessage"]
        row["state"] = "Deployed" if rep["success"] else "Error"
        if rep["success"]:
            row["consecutiveFailures"] = 0
        else:
            row["failures"] += 1
            row["consecutiveFailures"] += 1
    return Model(rows)


@dataclass
class Fleet:
    url: str
    ledger: Ledger
    model: Model


@pytest.fixture
def fleet(store_url: str) -> Iterator[Fleet]:
    reports = make_reports(120)
    with Ledger.open(store_url, create=True) as ledger:
        for start in range(0, len(reports), 30):
            ledger.record_many(reports[start : start + 30])
        yield Fleet(store_url, ledger, fold(reports))


class TestFleetFilters:
    def test_without_filters_every_workload_is_listed_by_tenant_then_runtime_id(
        self, fleet: Fleet
    ) -> None:
        assert found(fleet.ledger) == fleet.model.expected()
        assert len(found(fleet.ledger)) == len(fleet.model.rows) > 15

    def test_each_filter_and_their_combinations_give_exactly_the_matching_workloads(
        self, fleet: Fleet
    ) -> None:
        assert fleet.model.expected(state="error")
        assert fleet.model.expected(tenant="acme", pool="pool-a")
        for tenant in (None, "acme", "globex", "initech", "nobody"):
            for pool in (None, "pool-a", "pool-b", "pool-z"):
                for state in (None, "error", "deployed"):
                    assert found(
                        fleet.ledger, tenant_id=tenant, pool_name=pool, state=state
                    ) == fleet.model.expected(tenant, pool, state), (tenant, pool, state)

    def test_state_labels_are_case_insensitive_and_the_enum_works_too(self, fleet: Fleet) -> None:
        errors = fleet.model.expected(state="error")
        deployed = fleet.model.expected(state="deployed")

        for label in ("error", "ERROR", "Error", "eRRoR", " error "):
            assert found(fleet.ledger, state=label) == errors, label
        assert found(fleet.ledger, state=DeploymentState.ERROR) == errors
        for label in ("deployed", "DEPLOYED", "Deployed"):
            assert found(fleet.ledger, state=label) == deployed, label
        for label in ("pending", "Undeployed", DeploymentState.PENDING):
            assert found(fleet.ledger, state=label) == []
        assert len(errors) + len(deployed) == len(fleet.model.rows)

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


class TestStatusCommand:
    def test_status_json_gives_the_same_rows_as_the_facade_for_filters_in_any_case(
        self, fleet: Fleet
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYLEDGER_")}
        done = subprocess.run(
            [CLI, "--store", fleet.url, "status", "--tenant", "acme", "--state", "ERROR", "--json"],
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=env,
            timeout=120,
            check=False,
        )

        assert done.returncode == 0, done.stderr
        rows = json.loads(done.stdout)
        assert rows == [
            w.to_json() for w in fleet.ledger.workloads(tenant_id="acme", state="error")
        ]
        assert [summary((r["tenantId"], r["workloadRtId"]), r) for r in rows] == (
            fleet.model.expected("acme", None, "error")
        )
        assert rows
