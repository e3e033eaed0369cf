"""Failure insights in the read model (issue 10, sections 1 and 2), on both backends:
`Ledger.failures()` against a plain model of what was recorded, the audit filters, the
backfill of migration 0007, `reclassify` and `rebuild`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text, update
from support import engine_for, report, request

from deployledger import InvalidQuery, Ledger
from deployledger.domain.insights.failures import RULES_VERSION, categorize, fingerprint, template
from deployledger.migrations import runner
from deployledger.store.readmodel.failures import recorded_version
from deployledger.store.readmodel.tables import deployment_attempts

# Real helm error shapes; {n} and {w} are filled per workload, so each shape is one problem.
SHAPES = [
    'Error: UPGRADE FAILED: cannot patch "{w}" with kind Deployment: Deployment.apps "{w}" '
    "is invalid: spec.selector: Invalid value: v1.LabelSelector{{}}: field is immutable",
    "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
    "Error: INSTALLATION FAILED: resource Deployment/ns-{n}/{w} not ready. status: InProgress,"
    " message: Updated: {n}/3\ncontext deadline exceeded",
    'Error: UPGRADE FAILED: "{w}" has no deployed releases',
    "something nobody has seen before on {w}",
]
TENANTS = ["acme", "globex", "initech"]
POOLS = ["pool-a", "pool-b", None]
START = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class Sent:
    tenant: str
    rt_id: str
    pool: str | None
    success: bool
    message: str | None
    at: datetime
    kind: str = "outcome"


def fleet_messages(seed: int, count: int = 120) -> list[Sent]:
    rng = random.Random(seed)
    sent = []
    for i in range(count):
        tenant = rng.choice(TENANTS)
        rt_id = f"rt-{rng.randrange(12)}"
        at = START + timedelta(minutes=i)
        if rng.random() < 0.1:
            sent.append(Sent(tenant, rt_id, None, False, None, at, "request"))
            continue
        success = rng.random() < 0.3
        shape = rng.choice(SHAPES)
        message = None if success else shape.format(w=f"web-{rng.randrange(99)}", n=i)
        sent.append(Sent(tenant, rt_id, rng.choice(POOLS), success, message, at))
    return sent


def record(ledger: Ledger, sent: list[Sent]) -> None:
    bodies: list[dict[str, Any]] = []
    for s in sent:
        stamp = s.at.isoformat()
        if s.kind == "request":
            bodies.append(request(s.rt_id, tenant=s.tenant, reportedAt=stamp))
        else:
            bodies.append(
                report(
                    s.rt_id,
                    tenant=s.tenant,
                    pool=s.pool,
                    success=s.success,
                    message=s.message,
                    reportedAt=stamp,
                )
            )
    ledger.record_many(bodies)


def model(
    sent: list[Sent],
    *,
    since: datetime | None = None,
    tenants: set[str] | None = None,
    pool: str | None = None,
    category: str | None = None,
) -> dict[str, dict[str, Any]]:
    """The expected groups, by fingerprint, from the messages themselves."""
    last: dict[tuple[str, str], Sent] = {}
    for s in sent:
        last[(s.tenant, s.rt_id)] = s
    failing = {
        key: fingerprint(s.message)
        for key, s in last.items()
        if s.kind == "outcome" and not s.success
    }
    groups: dict[str, dict[str, Any]] = {}
    for s in sent:
        if s.kind != "outcome" or s.success:
            continue
        if since is not None and s.at < since:
            continue
        if tenants is not None and s.tenant not in tenants:
            continue
        if pool is not None and s.pool != pool:
            continue
        if category is not None and categorize(s.message) != category:
            continue
        key = fingerprint(s.message)
        g = groups.setdefault(
            key,
            {"attempts": 0, "workloads": set(), "tenants": set(), "pools": set(), "times": []},
        )
        g["attempts"] += 1
        g["workloads"].add((s.tenant, s.rt_id))
        g["tenants"].add(s.tenant)
        if s.pool is not None:
            g["pools"].add(s.pool)
        g["times"].append(s.at)
        g["category"] = categorize(s.message)
        g["template"] = template(s.message)
        g["example"] = s.message
    for key, g in groups.items():
        g["still_failing"] = sum(1 for w in g["workloads"] if failing.get(w) == key)
    return groups


def summary(groups: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {
        key: (
            g["category"],
            g["template"],
            g["attempts"],
            len(g["workloads"]),
            g["still_failing"],
            tuple(sorted(g["tenants"])),
            tuple(sorted(g["pools"])),
            min(g["times"]),
            max(g["times"]),
            g["example"],
        )
        for key, g in groups.items()
    }


def found_summary(ledger: Ledger, **filters: Any) -> dict[str, tuple[Any, ...]]:
    return {
        g.fingerprint: (
            g.category,
            g.template,
            g.attempts,
            g.workloads,
            g.still_failing,
            g.tenants,
            g.pools,
            g.first_seen,
            g.last_seen,
            g.example,
        )
        for g in ledger.failures(limit=None, **filters)
    }


@pytest.fixture
def fleet(migrated_url: str) -> Iterator[tuple[Ledger, list[Sent]]]:
    sent = fleet_messages(seed=7)
    with Ledger.open(migrated_url, create=True) as ledger:
        record(ledger, sent)
        ledger.catch_up()
        yield ledger, sent


class TestFailureGroups:
    def test_groups_match_a_model_of_the_recorded_messages(
        self, fleet: tuple[Ledger, list[Sent]]
    ) -> None:
        ledger, sent = fleet
        expected = summary(model(sent))
        assert len(expected) >= 4
        assert found_summary(ledger) == expected

    def test_groups_come_largest_first_and_limit_keeps_the_largest(
        self, fleet: tuple[Ledger, list[Sent]]
    ) -> None:
        ledger, _ = fleet
        groups = ledger.failures(limit=None)
        sizes = [g.attempts for g in groups]
        assert sizes == sorted(sizes, reverse=True)
        assert [g.fingerprint for g in ledger.failures(limit=2)] == [
            g.fingerprint for g in groups[:2]
        ]

    @pytest.mark.parametrize(
        "filters",
        [
            {"tenant_id": "acme"},
            {"tenant_id": ["acme", "initech"]},
            {"tenant_id": []},
            {"pool": "pool-b"},
            {"category": "immutable-field"},
            {"category": "unknown"},
            {"since": START + timedelta(minutes=60)},
            {"tenant_id": "globex", "pool": "pool-a", "category": "lock-held"},
        ],
    )
    def test_each_filter_gives_the_groups_of_the_matching_failures(
        self, fleet: tuple[Ledger, list[Sent]], filters: dict[str, Any]
    ) -> None:
        ledger, sent = fleet
        tenant = filters.get("tenant_id")
        tenants = None if tenant is None else {tenant} if isinstance(tenant, str) else set(tenant)
        expected = model(
            sent,
            since=filters.get("since"),
            tenants=tenants,
            pool=filters.get("pool"),
            category=filters.get("category"),
        )
        assert found_summary(ledger, **filters) == summary(expected)

    def test_since_as_a_timedelta_means_that_long_ago(self, migrated_url: str) -> None:
        now = datetime.now(UTC)
        with Ledger.open(migrated_url, create=True) as ledger:
            ledger.record_many(
                [
                    report(
                        "old",
                        success=False,
                        message="Error: x",
                        reportedAt=(now - timedelta(hours=3)).isoformat(),
                    ),
                    report(
                        "new",
                        success=False,
                        message="Error: x",
                        reportedAt=(now - timedelta(minutes=5)).isoformat(),
                    ),
                ]
            )
            (group,) = ledger.failures(since=timedelta(hours=1))
            assert group.attempts == 1
            assert ledger.failures(since=timedelta(hours=4))[0].attempts == 2

    def test_a_workload_that_recovered_or_was_redeployed_is_not_still_failing(
        self, migrated_url: str
    ) -> None:
        boom = "Error: UPGRADE FAILED: timed out waiting for the condition"
        with Ledger.open(migrated_url, create=True) as ledger:
            ledger.record_many(
                [
                    report("a", success=False, message=boom),
                    report("b", success=False, message=boom),
                    report("b", success=True),
                    report("c", success=False, message=boom),
                    request("c"),
                    report("d", success=False, message=boom),
                    report("d", success=False, message="Error: something else"),
                ]
            )
            by_print = {g.fingerprint: g for g in ledger.failures()}
            group = by_print[fingerprint(boom)]
            assert (group.attempts, group.workloads, group.still_failing) == (4, 4, 1)
            assert group.category == "wait-timeout"

    @pytest.mark.parametrize(
        "bad",
        [
            {"category": "no-such"},
            {"since": datetime(2026, 1, 1)},
            {"tenant_id": "a\x00b"},
            {"tenant_id": ["ok", "a\x00b"]},
            {"limit": 0},
            {"pool": "\ud800"},
            {"tenant_id": 7},
            {"tenant_id": [7]},
            {"limit": True},
            {"since": "24h"},
        ],
    )
    def test_bad_filters_are_refused(self, migrated_url: str, bad: dict[str, Any]) -> None:
        with Ledger.open(migrated_url, create=True) as ledger, pytest.raises(InvalidQuery):
            ledger.failures(**bad)


class TestAuditFilters:
    def test_audit_by_category_and_by_fingerprint(self, fleet: tuple[Ledger, list[Sent]]) -> None:
        ledger, sent = fleet
        failed = [s for s in sent if s.kind == "outcome" and not s.success]
        for cat in {categorize(s.message) for s in failed}:
            page = ledger.audit(category=cat, limit=1000)
            assert sorted(a.status_message or "" for a in page.items) == sorted(
                s.message or "" for s in failed if categorize(s.message) == cat
            )
        key = fingerprint(failed[0].message)
        page = ledger.audit(fingerprint=key, tenant_id=failed[0].tenant, limit=1000)
        assert sorted(a.status_message or "" for a in page.items) == sorted(
            s.message or ""
            for s in failed
            if fingerprint(s.message) == key and s.tenant == failed[0].tenant
        )
        assert page.items

    def test_an_unknown_category_is_refused(self, migrated_url: str) -> None:
        with Ledger.open(migrated_url, create=True) as ledger, pytest.raises(InvalidQuery):
            ledger.audit(category="nope")


def _columns(url: str) -> dict[int, tuple[Any, Any]]:
    with engine_for(url) as engine, engine.connect() as conn:
        c = deployment_attempts.c
        rows = conn.execute(
            deployment_attempts.select().with_only_columns(c.position, c.category, c.fingerprint)
        )
        return {r.position: (r.category, r.fingerprint) for r in rows}


class TestDerivedColumns:
    def test_failures_get_both_columns_and_successes_neither(
        self, fleet: tuple[Ledger, list[Sent]], migrated_url: str
    ) -> None:
        ledger, _ = fleet
        columns = _columns(migrated_url)
        for attempt in ledger.audit(limit=1000).items:
            cat, key = columns[attempt.position]
            if attempt.success:
                assert (cat, key) == (None, None)
            else:
                assert (cat, key) == (
                    categorize(attempt.status_message),
                    fingerprint(attempt.status_message),
                )

    def test_migration_0007_fills_the_columns_of_a_store_written_before(
        self, fleet: tuple[Ledger, list[Sent]], migrated_url: str
    ) -> None:
        before = _columns(migrated_url)
        with engine_for(migrated_url) as engine:
            with engine.begin() as conn:
                runner.downgrade(conn, "0006")
            with engine.begin() as conn:
                runner.upgrade(conn)
            with engine.connect() as conn:
                assert recorded_version(conn) == RULES_VERSION
        assert _columns(migrated_url) == before

    def test_reclassify_rewrites_only_what_the_rules_change_and_says_how_many(
        self, fleet: tuple[Ledger, list[Sent]], migrated_url: str
    ) -> None:
        ledger, _ = fleet
        before = _columns(migrated_url)
        failed = [p for p, (cat, _) in before.items() if cat is not None]
        spoiled = failed[::3]
        with engine_for(migrated_url) as engine, engine.begin() as conn:
            c = deployment_attempts.c
            conn.execute(
                update(deployment_attempts)
                .where(c.position.in_(spoiled))
                .values(category="old", fingerprint="000000000000")
            )
            conn.execute(text("UPDATE failure_rules SET version = 0"))
        result = ledger.reclassify()
        assert (result.previous_version, result.version) == (0, RULES_VERSION)
        assert (result.examined, result.changed) == (len(failed), len(spoiled))
        assert _columns(migrated_url) == before
        again = ledger.reclassify()
        assert (again.examined, again.changed) == (0, 0)
        forced = ledger.reclassify(force=True)
        assert (forced.examined, forced.changed) == (len(failed), 0)

    def test_rebuild_derives_the_same_columns_and_records_the_version(
        self, fleet: tuple[Ledger, list[Sent]], migrated_url: str
    ) -> None:
        ledger, _ = fleet
        before = _columns(migrated_url)
        with engine_for(migrated_url) as engine, engine.begin() as conn:
            conn.execute(text("DELETE FROM failure_rules"))
        ledger.rebuild()
        assert _columns(migrated_url) == before
        with engine_for(migrated_url) as engine, engine.connect() as conn:
            assert recorded_version(conn) == RULES_VERSION
        assert found_summary(ledger)


class TestAgainstTheModel:
    """Random fleets (hypothesis), each under tenants of its own in one store."""

    @settings(
        max_examples=8,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(seed=st.integers(0, 2**32), count=st.integers(1, 80))
    def test_any_fleet_groups_as_the_model_says(
        self, migrated_url: str, seed: int, count: int
    ) -> None:
        prefix = f"h{seed}-{count}-"
        sent = [
            Sent(prefix + s.tenant, s.rt_id, s.pool, s.success, s.message, s.at, s.kind)
            for s in fleet_messages(seed, count)
        ]
        tenants = sorted({s.tenant for s in sent})
        with Ledger.open(migrated_url, create=True) as ledger:
            record(ledger, sent)
            expected = summary(model(sent))
            assert found_summary(ledger, tenant_id=tenants) == expected
            since = START + timedelta(minutes=count // 2)
            assert found_summary(ledger, tenant_id=tenants, since=since) == summary(
                model(sent, since=since)
            )


def test_a_message_kept_as_exact_bytes_is_classified_from_its_exact_text(migrated_url: str) -> None:
    message = (
        "Error: UPGRADE FAILED: \x00 another operation (install/upgrade/rollback) is in progress"
    )
    with Ledger.open(migrated_url, create=True) as ledger:
        ledger.record(report("nul", success=False, message=message))
        ledger.catch_up()
        expected = {(categorize(message), fingerprint(message))}
        assert set(_columns(migrated_url).values()) == expected
        with engine_for(migrated_url) as engine:
            with engine.begin() as conn:
                runner.downgrade(conn, "0006")
            with engine.begin() as conn:
                runner.upgrade(conn)
        assert set(_columns(migrated_url).values()) == expected
        (group,) = ledger.failures()
        assert (group.category, group.example) == ("lock-held", message)


WRAPPED = (
    "helm upgrade --install checkout failed with exit code 1. stderr: "
    "Error: UPGRADE FAILED: timed out waiting for the condition"
)
BARE = "Error: UPGRADE FAILED: timed out waiting for the condition"


@pytest.mark.parametrize("apply", ["reclassify", "rebuild"])
def test_reclassify_and_rebuild_group_wrapped_and_bare_forms_stored_under_rules_1(
    migrated_url: str, apply: str
) -> None:
    """Rows classified under rules 1 gave the wrapped form a fingerprint of its own; the
    change to rules 2 reaches them through `reclassify` and through `rebuild`."""
    with Ledger.open(migrated_url, create=True) as ledger:
        ledger.record(report("rt-1", success=False, message=WRAPPED))
        ledger.record(report("rt-2", success=False, message=BARE))
        ledger.catch_up()
        with engine_for(migrated_url) as engine, engine.begin() as conn:
            c = deployment_attempts.c
            conn.execute(
                update(deployment_attempts)
                .where(c.workload_rt_id == "rt-1")
                .values(fingerprint="0123456789ab")  # what rules 1 gave the wrapped form
            )
            conn.execute(text("UPDATE failure_rules SET version = 1"))
        assert len(ledger.failures()) == 2
        if apply == "reclassify":
            result = ledger.reclassify()
            assert (result.previous_version, result.version, result.changed) == (1, 2, 1)
        else:
            ledger.rebuild()
        (group,) = ledger.failures()
        assert (group.fingerprint, group.attempts, group.workloads) == (fingerprint(BARE), 2, 2)
        with engine_for(migrated_url) as engine, engine.connect() as conn:
            assert recorded_version(conn) == RULES_VERSION == 2
