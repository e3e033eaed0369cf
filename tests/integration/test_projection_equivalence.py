"""Incremental projection equals rebuild (issue 3): property-based, on both backends.

For any sequence of reports across a few workloads, recorded in random chunks and caught
up in random batch sizes, the view rows are exactly those a rebuild from every event gives.
SQLite gets a fresh file per example; PostgreSQL one database per test and a tenant of its
own per example, whose rows alone are compared.
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import engine_for, migrated_sqlite, projection_runner, report, view_rows

from deployledger import Ledger
from deployledger.domain.storeurl import parse_store_url
from deployledger.domain.workload.aggregate import workload_id
from deployledger.store.readmodel.tables import workload_state

RT_IDS = ["rt-alpha", "rt-beta", "rt-gamma", "rt-delta"]
MESSAGES = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    st.sampled_from(
        [
            "",
            "\x00",
            "before\x00after",
            "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
            "部署失败 🚀 مرحبا ÄRGER",
            "line1\r\nline2\t\u2028",
        ]
    ),
)


@dataclass(frozen=True)
class Step:
    rt: int
    success: bool
    message: str | None
    pool: str | None
    message_id: str | None


STEPS = st.builds(
    Step,
    rt=st.integers(0, len(RT_IDS) - 1),
    success=st.booleans(),
    message=MESSAGES,
    pool=st.one_of(st.none(), st.sampled_from(["pool-a", "pool-b"])),
    message_id=st.one_of(st.none(), st.sampled_from(["m-1", "m-2", "m-3"])),
)
SCENARIOS = st.tuples(
    st.lists(STEPS, min_size=1, max_size=30),
    st.lists(st.integers(1, 8), min_size=1, max_size=12),  # chunk sizes, reused in a cycle
    st.lists(st.integers(1, 7), min_size=1, max_size=12),  # runner batch sizes, in a cycle
)


def sent_id(step: Step) -> str | None:
    """The messageId sent: the drawn one, tied to the content, so that a repeat is a true
    resend (a duplicate) and never the same id with other content (a conflict)."""
    if step.message_id is None:
        return None
    content = repr((step.success, step.message, step.pool)).encode("utf-8", "surrogatepass")
    return f"{step.message_id}-{hashlib.sha256(content).hexdigest()[:12]}"


def as_report(tenant: str, step: Step) -> dict[str, Any]:
    return report(
        RT_IDS[step.rt],
        tenant=tenant,
        name=f"name-{RT_IDS[step.rt]}",
        pool=step.pool,
        success=step.success,
        message=step.message,
        messageId=sent_id(step),
    )


def expected_attempts(steps: list[Step]) -> Counter[str]:
    """Attempts per runtime id: a report repeating a message id of its workload is a duplicate."""
    seen: dict[str, set[str]] = {rt: set() for rt in RT_IDS}
    counts: Counter[str] = Counter()
    for step in steps:
        rt = RT_IDS[step.rt]
        message_id = sent_id(step)
        if message_id is not None:
            if message_id in seen[rt]:
                continue
            seen[rt].add(message_id)
        counts[rt] += 1
    return counts


def run_scenario(url: str, tenant: str, scenario: tuple[list[Step], list[int], list[int]]) -> None:
    steps, chunk_sizes, batch_sizes = scenario
    reports = [as_report(tenant, s) for s in steps]
    with Ledger.open(url, create=True) as ledger, engine_for(url) as engine:
        start, turn = 0, 0
        while start < len(reports):
            size = chunk_sizes[turn % len(chunk_sizes)]
            ledger.record_many(reports[start : start + size])
            start += size
            batch = batch_sizes[turn % len(batch_sizes)]
            projection_runner(ledger, engine, batch_size=batch).catch_up()
            turn += 1
        incremental = view_rows(engine, tenant=tenant)
        ledger.rebuild()
        rebuilt = view_rows(engine, tenant=tenant)

    counts = expected_attempts(steps)
    assert len(incremental[1]) == sum(counts.values())
    by_id = {r[2]: r for r in incremental[0]}  # workload_id column
    for rt, count in counts.items():
        row = by_id[workload_id(tenant, rt).hex]
        assert row[8] == count  # attempts column
    assert incremental == rebuilt


class TestIncrementalProjectionEqualsRebuild:
    @pytest.mark.slow
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(scenario=SCENARIOS)
    def test_catching_up_in_random_batches_gives_exactly_the_rows_of_a_rebuild(
        self, migrated_url: str, scenario: tuple[list[Step], list[int], list[int]]
    ) -> None:
        if parse_store_url(migrated_url).is_postgres:
            run_scenario(migrated_url, f"tenant-{uuid.uuid4().hex[:10]}", scenario)
            return
        with tempfile.TemporaryDirectory() as folder:
            run_scenario(migrated_sqlite(Path(folder) / "ledger.db"), "tenant", scenario)

    def test_the_comparison_sees_a_row_the_incremental_view_got_wrong(
        self, migrated_url: str
    ) -> None:
        with Ledger.open(migrated_url, create=True) as ledger, engine_for(migrated_url) as engine:
            ledger.record_many(
                [as_report("acme", Step(0, False, "boom", "pool-a", None)) for _ in range(3)]
            )
            projection_runner(ledger, engine, batch_size=2).catch_up()
            with engine.begin() as conn:
                conn.execute(workload_state.update().values(consecutive_failures=99))
            broken = view_rows(engine, tenant="acme")
            ledger.rebuild()
            rebuilt = view_rows(engine, tenant="acme")

        assert broken != rebuilt
        assert rebuilt[0][0][10] == 3  # consecutive_failures, restored from the events
