"""`Ledger.audit_iter`: the whole audit trail as an iterator, on both backends.

Expected answers come from the plain model of the recorded reports (`support.AuditTrail`), as
for `audit` pages; the export is read in keyset pages, so small pages are tried too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from support import AUDIT_TENANTS, INJECTION, AuditTrail, audit_trail

from deployledger import AuditFilter, InvalidQuery
from deployledger.store.readmodel import insights as queries_insights


@pytest.fixture
def recorded(migrated_url: str) -> Iterator[AuditTrail]:
    with audit_trail(migrated_url) as made:
        yield made


def exported(trail: AuditTrail, **filters: Any) -> list[int]:
    return [a.position for a in trail.ledger.audit_iter(**filters)]


FILTERS: list[dict[str, Any]] = [
    {},
    {"tenant_id": "acme"},
    {"tenant_id": INJECTION},
    {"tenant_id": "nobody"},
    {"pool_name": "pool-b"},
    {"workload_name": "name-1"},
    {"workload_rt_id": "rt-3", "success": False},
    {"success": True},
    {"grep": "ärger"},
    {"grep": "\\"},
    {"tenant_id": "globex", "grep": "progress", "success": False},
]


@pytest.mark.parametrize("filters", FILTERS, ids=str)
def test_the_export_gives_exactly_the_matching_attempts_newest_first(
    recorded: AuditTrail, filters: dict[str, Any]
) -> None:
    assert exported(recorded, **filters) == recorded.expected(**filters)


def test_the_export_holds_the_same_attempts_as_the_pages(recorded: AuditTrail) -> None:
    page = recorded.ledger.audit(limit=10_000)
    assert list(recorded.ledger.audit_iter()) == page.items


def test_several_tenants_are_merged_newest_first(recorded: AuditTrail) -> None:
    wanted = ["initech", "acme", "acme"]
    expected = sorted((r.position for r in recorded.rows if r.tenant_id in wanted), reverse=True)
    assert exported(recorded, tenant_id=wanted) == expected
    assert exported(recorded, tenant_id=AUDIT_TENANTS) == recorded.expected()
    assert exported(recorded, tenant_id=[]) == []


def test_since_and_until_cut_the_export_like_a_page(recorded: AuditTrail) -> None:
    times = sorted(r.recorded_at for r in recorded.rows)
    since, until = times[10], times[45]
    assert exported(recorded, since=since, until=until) == recorded.expected(
        since=since, until=until
    )
    assert exported(recorded, since=timedelta(days=1)) == recorded.expected()


@pytest.mark.parametrize("page", [1, 7, 60, 61])
def test_pages_of_any_size_join_up_without_gaps_or_repeats(recorded: AuditTrail, page: int) -> None:
    recorded.ledger.catch_up()
    engine = recorded.ledger._read_model.engine  # type: ignore[attr-defined]
    found = queries_insights.audit_iter(engine, AuditFilter(success=False), page=page)
    assert [a.position for a in found] == recorded.expected(success=False)


def test_attempts_recorded_during_an_export_do_not_enter_it(recorded: AuditTrail) -> None:
    recorded.ledger.catch_up()
    engine = recorded.ledger._read_model.engine  # type: ignore[attr-defined]
    found = queries_insights.audit_iter(engine, AuditFilter(), page=5)
    first = next(found)
    recorded.ledger.record_many([{**_a_report(), "tenantId": "late"}])
    recorded.ledger.catch_up()
    rest = [a.position for a in found]
    assert [first.position, *rest] == recorded.expected()


def _a_report() -> dict[str, Any]:
    from support import report

    return report("rt-late", success=False, message="late")


def test_bad_filters_are_refused_when_the_export_is_asked_for(recorded: AuditTrail) -> None:
    with pytest.raises(InvalidQuery, match="NUL"):
        recorded.ledger.audit_iter(tenant_id=["acme", "a\x00"])
    with pytest.raises(InvalidQuery, match="time zone"):
        recorded.ledger.audit_iter(until=recorded.rows[0].recorded_at.replace(tzinfo=None))
