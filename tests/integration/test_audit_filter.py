"""`AuditFilter` through `Ledger` to the read model, on SQLite and PostgreSQL: several
tenants and pools at once, the same answers as the keywords, and the `ledger.log` group
with its deprecated aliases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import report

from deployledger import AuditFilter, InvalidQuery, Ledger

SENT = [
    ("a", "p1", True),
    ("a", "p2", False),
    ("b", "p1", False),
    ("b", "p3", True),
    ("c", "p1", False),
]


@pytest.fixture
def ledger(migrated_url: str) -> Iterator[Ledger]:
    with Ledger.open(migrated_url, create=True) as opened:
        for number, (tenant, pool, success) in enumerate(SENT):
            opened.record(
                report(f"rt-{number}", tenant=tenant, pool=pool, success=success, message="boom")
            )
        yield opened


def picked(ledger: Ledger, where: AuditFilter) -> set[tuple[str, str | None]]:
    return {(a.tenant_id, a.pool_name) for a in ledger.audit(where=where, limit=100).items}


def test_several_tenants_and_pools_match_any_of_them(ledger: Ledger) -> None:
    where = AuditFilter(tenants=["a", "b"], pools=["p1", "p3"])
    assert picked(ledger, where) == {("a", "p1"), ("b", "p1"), ("b", "p3")}
    assert picked(ledger, AuditFilter(tenants=[])) == set()
    exported = {(a.tenant_id, a.pool_name) for a in ledger.audit_iter(where=where)}
    assert exported == picked(ledger, where)
    rows = b"".join(ledger.audit_csv(where=where)).decode().splitlines()
    assert len(rows) == 1 + 3


def test_a_filter_answers_as_the_same_keywords_do(ledger: Ledger) -> None:
    by_keywords = ledger.audit(tenant_id="b", pool_name="p1", success=False, grep="BOOM")
    where = AuditFilter(tenants="b", pools="p1", success=False, grep="BOOM")
    assert ledger.audit(where=where) == by_keywords
    assert [a.position for a in by_keywords.items] != []


def test_a_filter_and_keywords_together_are_refused(ledger: Ledger) -> None:
    with pytest.raises(InvalidQuery, match="not both: grep, tenant_id"):
        ledger.audit(where=AuditFilter(), tenant_id="a", grep="x")
    with pytest.raises(InvalidQuery, match="where must be an AuditFilter"):
        ledger.audit_iter(where={"tenants": "a"})  # type: ignore[arg-type]


def test_the_page_limit_is_checked_by_the_library_too(ledger: Ledger) -> None:
    for bad in (0, 10_001, True):
        with pytest.raises(InvalidQuery, match="limit must be an integer from 1 to 10000"):
            ledger.audit(limit=bad)


def test_the_log_group_answers_and_the_old_names_warn(ledger: Ledger) -> None:
    made = ledger.log.checkpoint()
    assert ledger.log.checkpoints() == [made]
    assert ledger.log.verify().intact
    assert ledger.log.prove("a", "rt-0", 1).attempt == 1
    with pytest.warns(DeprecationWarning, match=r"use ledger\.log\.checkpoints\(\)"):
        assert ledger.checkpoints() == [made]
    with pytest.warns(DeprecationWarning, match=r"use ledger\.log\.verify\(\)"):
        assert ledger.verify().intact
