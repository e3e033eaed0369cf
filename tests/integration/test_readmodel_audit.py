"""The audit trail (issue 3, section 4): every filter, combinations, pagination.

Expected answers come from a plain model of the recorded reports (`support.AuditTrail`: their
receipts give the positions and times), so each filter is checked against what really was
recorded. (The `audit` command: tests/e2e.)

Case folding of `grep`: both backends fold non-ASCII letters (`ärger` finds `ÄRGER`).
They differ on multi-letter folds: SQLite compares Unicode casefolds, so `STRASSE` finds
`straße`; PostgreSQL's ILIKE folds letter by letter and does not. The cases below avoid
such letters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from support import AUDIT_MIX, INJECTION, AuditTrail, audit_trail, eventually, reports

from deployledger import InvalidQuery, Ledger, Receipt
from deployledger.store.readmodel.queries import encode_cursor

ACME_MIX = AUDIT_MIX | {"tenant": "acme"}


@pytest.fixture
def recorded(migrated_url: str) -> Iterator[AuditTrail]:
    """60 reports over 4 tenants, recorded in three chunks a few milliseconds apart."""
    with audit_trail(migrated_url) as made:
        yield made


class TestEachFilter:
    def test_no_filter_gives_every_attempt_newest_first(self, recorded: AuditTrail) -> None:
        assert recorded.found() == recorded.expected()
        assert len(recorded.found()) == 60

    def test_each_equality_filter_gives_exactly_the_matching_attempts(
        self, recorded: AuditTrail
    ) -> None:
        cases: dict[str, list[Any]] = {
            "tenant_id": ["acme", "globex", "initech", INJECTION, "nobody"],
            "pool_name": ["pool-a", "pool-b", "pool-c"],
            "workload_name": ["name-0", "name-1", "name-2", "name-9"],
            "workload_rt_id": ["rt-0", "rt-3", "rt-4", "rt-9"],
            "success": [True, False],
        }
        for name, values in cases.items():
            assert recorded.expected(**{name: values[0]}), f"{name} must match something"
            for value in values:
                assert recorded.found(**{name: value}) == recorded.expected(**{name: value}), (
                    name,
                    value,
                )

    def test_since_is_inclusive_and_until_exclusive(self, recorded: AuditTrail) -> None:
        times = sorted({r.recorded_at for r in recorded.rows})
        low, high = times[15], times[45]

        assert recorded.found(since=low) == recorded.expected(since=low)
        assert recorded.found(until=high) == recorded.expected(until=high)
        assert recorded.found(since=low, until=high) == recorded.expected(since=low, until=high)
        exact = [r.position for r in recorded.rows if r.recorded_at == low]
        assert set(exact) <= set(recorded.found(since=low))
        assert set(exact).isdisjoint(recorded.found(until=low))
        assert recorded.found(since=times[-1] + timedelta(microseconds=1)) == []
        assert len(recorded.found(until=times[-1] + timedelta(microseconds=1))) == 60

    def test_since_and_until_in_another_time_zone_mean_the_same_instants(
        self, recorded: AuditTrail
    ) -> None:
        times = sorted({r.recorded_at for r in recorded.rows})
        zone = timezone(timedelta(hours=5, minutes=30))
        low, high = times[10].astimezone(zone), times[50].astimezone(zone)

        assert recorded.found(since=low, until=high) == recorded.expected(
            since=times[10], until=times[50]
        )
        assert len(recorded.found(since=low, until=high)) >= 38

    def test_a_time_without_a_zone_is_an_invalid_query(self, recorded: AuditTrail) -> None:
        with pytest.raises(InvalidQuery, match="time zone"):
            recorded.ledger.audit(since=datetime(2020, 1, 1))

    def test_grep_is_a_case_insensitive_substring_with_no_wildcards(
        self, recorded: AuditTrail
    ) -> None:
        needles = [
            "ärger",
            "ÄRGER",
            "ÄrGeR im",
            "another operation (install/upgrade/rollback) is in progress",
            "UPGRADE FAILED",
            "100%",
            "under_score",
            "back\\slash",
            "A\x00B",
            "部署",
            "🚀",
            "no such text",
        ]
        for needle in needles:
            assert recorded.found(grep=needle) == recorded.expected(grep=needle), needle

    def test_grep_finds_both_cases_of_a_non_ascii_word(self, recorded: AuditTrail) -> None:
        lower = {r.position for r in recorded.rows if r.message == "kein ärger hier"}
        upper = {r.position for r in recorded.rows if r.message == "ÄRGER im Cluster"}

        assert lower
        assert upper
        assert set(recorded.found(grep="ärger")) == lower | upper
        assert set(recorded.found(grep="ÄRGER")) == lower | upper
        # % and _ are no wildcards: "1000" and "underXscore" do not match.
        assert set(recorded.found(grep="100%")).isdisjoint(recorded.found(grep="1000"))
        assert set(recorded.found(grep="under_score")).isdisjoint(
            recorded.found(grep="underXscore")
        )


class TestCombinedFilters:
    def test_filters_combine_with_and(self, recorded: AuditTrail) -> None:
        times = sorted({r.recorded_at for r in recorded.rows})
        cases: list[dict[str, Any]] = [
            {"tenant_id": "acme", "success": False},
            {"tenant_id": "globex", "pool_name": "pool-a"},
            {"pool_name": "pool-b", "workload_name": "name-1"},
            {"tenant_id": "acme", "workload_rt_id": "rt-0", "grep": "ärger"},
            {"tenant_id": "initech", "since": times[20], "until": times[40]},
            {"success": True, "grep": "progress", "since": times[5]},
            {"workload_rt_id": "rt-2", "workload_name": "name-2", "success": False},
            {
                "tenant_id": "acme",
                "pool_name": "pool-a",
                "workload_name": "name-0",
                "workload_rt_id": "rt-0",
                "since": times[0],
                "until": times[-1],
                "success": True,
                "grep": "",
            },
        ]
        nonempty = 0
        for case in cases:
            expected = recorded.expected(**case)
            assert recorded.found(**case) == expected, case
            nonempty += bool(expected)
        assert nonempty >= 5

    def test_filter_values_are_data_never_sql(self, recorded: AuditTrail) -> None:
        injected = {r.position for r in recorded.rows if r.tenant_id == INJECTION}

        assert injected
        assert set(recorded.found(tenant_id=INJECTION)) == injected
        for name in ("pool_name", "workload_name", "workload_rt_id"):
            assert recorded.found(**{name: INJECTION}) == [], name
            assert recorded.found(**{name: "' OR 1=1 --"}) == [], name
        assert recorded.found(tenant_id="acme' OR '1'='1") == []
        assert recorded.found(grep="' OR '1'='1") == []
        assert recorded.found(grep="%") == recorded.expected(grep="%")
        assert len(recorded.found(grep="%")) < 60


class TestPagination:
    def test_walking_pages_of_seven_while_reports_arrive_gives_exactly_the_first_snapshot(
        self, migrated_url: str
    ) -> None:
        receipts: list[tuple[Receipt, bool]] = []
        lock = threading.Lock()
        halt = threading.Event()
        errors: list[BaseException] = []

        def write(start: int) -> None:
            try:
                with Ledger.open(migrated_url) as writer:
                    number = start
                    while not halt.is_set():
                        rep = reports(1, seed=number, **ACME_MIX)[0]
                        receipt = writer.record(rep)
                        with lock:
                            receipts.append((receipt, rep["success"]))
                        number += 1
                        time.sleep(0.01)
            except BaseException as e:
                errors.append(e)

        with Ledger.open(migrated_url, create=True) as ledger:
            seed = [reports(1, seed=n, **ACME_MIX)[0] for n in range(120)]
            for rep, receipt in zip(seed, ledger.record_many(seed), strict=True):
                receipts.append((receipt, rep["success"]))
            thread = threading.Thread(target=write, args=(1000,), daemon=True)
            thread.start()
            try:
                eventually(lambda: len(receipts) > 120, what="the writer")  # the writer is at work
                pages = [ledger.audit(tenant_id="acme", success=False, limit=7)]
                top = pages[0].items[0].position
                # Failures recorded after the first page, before the next ones are read:
                eventually(
                    lambda: sum(1 for r, ok in list(receipts) if not ok and r.position > top) >= 3,
                    what="three late failures",
                )
                while pages[-1].next_cursor is not None:
                    cursor = pages[-1].next_cursor
                    pages.append(
                        ledger.audit(tenant_id="acme", success=False, limit=7, cursor=cursor)
                    )
            finally:
                halt.set()
                thread.join(timeout=60)
        assert errors == []

        walked = [a.position for page in pages for a in page.items]
        expected = {r.position for r, ok in receipts if not ok and r.position <= top}
        assert len(expected) > 40
        assert walked == sorted(walked, reverse=True)
        assert len(walked) == len(set(walked))
        assert set(walked) == expected
        assert all(len(page.items) == 7 for page in pages[:-1])
        assert 1 <= len(pages[-1].items) <= 7
        assert all(not a.success and a.tenant_id == "acme" for p in pages for a in p.items)
        late = [r for r, ok in receipts if not ok and r.position > top]
        assert late
        assert set(walked).isdisjoint(r.position for r in late)

    def test_the_last_page_has_no_cursor_and_an_exact_multiple_ends_cleanly(
        self, recorded: AuditTrail
    ) -> None:
        acme = recorded.expected(tenant_id="acme")
        size = len(acme)
        page = recorded.ledger.audit(tenant_id="acme", limit=size)
        assert [a.position for a in page.items] == acme
        assert page.next_cursor is None
        first = recorded.ledger.audit(tenant_id="acme", limit=size - 1)
        assert first.next_cursor is not None
        rest = recorded.ledger.audit(tenant_id="acme", limit=size, cursor=first.next_cursor)
        assert [a.position for a in rest.items] == acme[-1:]
        assert rest.next_cursor is None

    def test_an_invalid_cursor_raises_invalid_query(self, recorded: AuditTrail) -> None:
        for cursor in ["", "not-a-cursor", "!!!", "é", "cTo1", "cDotNQ", "cDo", "p:5"]:
            with pytest.raises(InvalidQuery, match="cursor"):
                recorded.ledger.audit(cursor=cursor)
        valid = recorded.ledger.audit(limit=1).next_cursor
        assert valid is not None
        assert len(recorded.ledger.audit(cursor=valid, limit=100).items) == 59

    def test_a_cursor_beyond_any_position_raises_invalid_query(self, recorded: AuditTrail) -> None:
        with pytest.raises(InvalidQuery):
            recorded.ledger.audit(cursor=encode_cursor(2**70))

    def test_a_limit_out_of_range_raises_invalid_query(self, recorded: AuditTrail) -> None:
        for limit in (0, -1, 10_001):
            with pytest.raises(InvalidQuery, match="limit"):
                recorded.ledger.audit(limit=limit)
        assert len(recorded.ledger.audit(limit=10_000).items) == 60
