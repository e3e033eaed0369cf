"""The audit trail (issue 3, section 4): every filter, combinations, pagination, formats.

Expected answers come from a plain model of the recorded reports (their receipts give the
positions and times), so each filter is checked against what really was recorded.

Case folding of `grep`: both backends fold non-ASCII letters (`ärger` finds `ÄRGER`).
They differ on multi-letter folds: SQLite compares Unicode casefolds, so `STRASSE` finds
`straße`; PostgreSQL's ILIKE folds letter by letter and does not. The cases below avoid
such letters.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from deployledger import InvalidQuery, Ledger, Receipt
from deployledger.store.queries import encode_cursor

CLI = str(Path(sys.executable).parent / "deployledger")
INJECTION = "x' OR '1'='1"
MESSAGES = [
    None,
    "",
    "ÄRGER im Cluster",
    "kein ärger hier",
    "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
    "progress 100% done",
    "progress 1000 done",
    "under_score",
    "underXscore",
    "back\\slash",
    "a\x00b",
    "部署失败 🚀",
]


@dataclass(frozen=True)
class Row:
    """One recorded attempt, as the model knows it."""

    position: int
    tenant_id: str
    workload_rt_id: str
    workload_name: str
    pool_name: str | None
    success: bool
    message: str | None
    recorded_at: datetime


def make_reports(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    reports = []
    for i in range(count):
        tenant = ["acme", "globex", "initech", INJECTION][i % 4 if i % 9 else 3]
        reports.append(
            {
                "tenantId": tenant,
                "workloadRtId": f"rt-{i % 5}",
                "workloadName": f"name-{i % 3}",
                "poolName": rng.choice([None, "pool-a", "pool-b"]),
                "success": rng.random() < 0.5,
                "statusMessage": MESSAGES[i % len(MESSAGES)],
            }
        )
    return reports


def model(reports: list[dict[str, Any]], receipts: list[Receipt]) -> list[Row]:
    return [
        Row(
            r.position,
            rep["tenantId"],
            rep["workloadRtId"],
            rep["workloadName"],
            rep["poolName"],
            rep["success"],
            rep["statusMessage"],
            r.recorded_at,
        )
        for rep, r in zip(reports, receipts, strict=True)
    ]


def matches(row: Row, f: dict[str, Any]) -> bool:
    checks = [
        f.get("tenant_id") in (None, row.tenant_id),
        f.get("pool_name") in (None, row.pool_name),
        f.get("workload_name") in (None, row.workload_name),
        f.get("workload_rt_id") in (None, row.workload_rt_id),
        f.get("success") in (None, row.success),
        f.get("since") is None or row.recorded_at >= f["since"],
        f.get("until") is None or row.recorded_at < f["until"],
    ]
    grep = f.get("grep")
    if grep:
        checks.append(row.message is not None and grep.casefold() in row.message.casefold())
    return all(checks)


@dataclass
class Recorded:
    url: str
    ledger: Ledger
    rows: list[Row]

    def expected(self, **filters: Any) -> list[int]:
        return sorted((r.position for r in self.rows if matches(r, filters)), reverse=True)

    def found(self, **filters: Any) -> list[int]:
        page = self.ledger.audit(**filters, limit=10_000)
        assert page.next_cursor is None
        return [a.position for a in page.items]


@pytest.fixture
def recorded(store_url: str) -> Iterator[Recorded]:
    """60 reports over 4 tenants, recorded in three chunks a few milliseconds apart."""
    reports = make_reports(60)
    with Ledger.open(store_url, create=True) as ledger:
        receipts: list[Receipt] = []
        for start in (0, 20, 40):
            receipts += ledger.record_many(reports[start : start + 20])
            time.sleep(0.005)
        yield Recorded(store_url, ledger, model(reports, receipts))


class TestEachFilter:
    def test_no_filter_gives_every_attempt_newest_first(self, recorded: Recorded) -> None:
        assert recorded.found() == recorded.expected()
        assert len(recorded.found()) == 60

    def test_each_equality_filter_gives_exactly_the_matching_attempts(
        self, recorded: Recorded
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

    def test_since_is_inclusive_and_until_exclusive(self, recorded: Recorded) -> None:
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
        self, recorded: Recorded
    ) -> None:
        times = sorted({r.recorded_at for r in recorded.rows})
        zone = timezone(timedelta(hours=5, minutes=30))
        low, high = times[10].astimezone(zone), times[50].astimezone(zone)

        assert recorded.found(since=low, until=high) == recorded.expected(
            since=times[10], until=times[50]
        )
        assert len(recorded.found(since=low, until=high)) >= 38

    def test_a_time_without_a_zone_is_an_invalid_query(self, recorded: Recorded) -> None:
        with pytest.raises(InvalidQuery, match="time zone"):
            recorded.ledger.audit(since=datetime(2020, 1, 1))

    def test_grep_is_a_case_insensitive_substring_with_no_wildcards(
        self, recorded: Recorded
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

    def test_grep_finds_both_cases_of_a_non_ascii_word(self, recorded: Recorded) -> None:
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
    def test_filters_combine_with_and(self, recorded: Recorded) -> None:
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

    def test_filter_values_are_data_never_sql(self, recorded: Recorded) -> None:
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
        self, store_url: str
    ) -> None:
        receipts: list[tuple[Receipt, bool]] = []
        lock = threading.Lock()
        halt = threading.Event()
        errors: list[BaseException] = []

        def write(start: int) -> None:
            try:
                with Ledger.open(store_url) as writer:
                    number = start
                    while not halt.is_set():
                        rep = make_reports(1, seed=number)[0] | {"tenantId": "acme"}
                        receipt = writer.record(rep)
                        with lock:
                            receipts.append((receipt, rep["success"]))
                        number += 1
                        time.sleep(0.01)
            except BaseException as e:
                errors.append(e)

        with Ledger.open(store_url, create=True) as ledger:
            seed = [make_reports(1, seed=n)[0] | {"tenantId": "acme"} for n in range(120)]
            for rep, receipt in zip(seed, ledger.record_many(seed), strict=True):
                receipts.append((receipt, rep["success"]))
            thread = threading.Thread(target=write, args=(1000,), daemon=True)
            thread.start()
            try:
                until(lambda: len(receipts) > 120)  # the writer is at work
                pages = [ledger.audit(tenant_id="acme", success=False, limit=7)]
                top = pages[0].items[0].position
                # Failures recorded after the first page, before the next ones are read:
                until(
                    lambda: sum(1 for r, ok in list(receipts) if not ok and r.position > top) >= 3
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
        self, recorded: Recorded
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

    def test_an_invalid_cursor_raises_invalid_query(self, recorded: Recorded) -> None:
        for cursor in ["", "not-a-cursor", "!!!", "é", "cTo1", "cDotNQ", "cDo", "p:5"]:
            with pytest.raises(InvalidQuery, match="cursor"):
                recorded.ledger.audit(cursor=cursor)
        valid = recorded.ledger.audit(limit=1).next_cursor
        assert valid is not None
        assert len(recorded.ledger.audit(cursor=valid, limit=100).items) == 59

    def test_a_cursor_beyond_any_position_raises_invalid_query(self, recorded: Recorded) -> None:
        with pytest.raises(InvalidQuery):
            recorded.ledger.audit(cursor=encode_cursor(2**70))

    def test_a_limit_out_of_range_raises_invalid_query(self, recorded: Recorded) -> None:
        for limit in (0, -1, 10_001):
            with pytest.raises(InvalidQuery, match="limit"):
                recorded.ledger.audit(limit=limit)
        assert len(recorded.ledger.audit(limit=10_000).items) == 60


def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def run_audit(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYLEDGER_")}
    return subprocess.run(
        [CLI, "--store", url, "audit", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
        check=False,
    )


class TestCommandLine:
    def test_json_jsonl_and_csv_give_the_same_full_rows_as_the_facade(
        self, recorded: Recorded
    ) -> None:
        filters = ["--tenant", "acme", "--failed", "--limit", "1000"]
        outputs = {fmt: run_audit(recorded.url, *filters, "--format", fmt) for fmt in FORMATS}
        for fmt, done in outputs.items():
            assert done.returncode == 0, (fmt, done.stderr)

        rows = [
            a.to_audit_json()
            for a in recorded.ledger.audit(tenant_id="acme", success=False, limit=1000).items
        ]
        assert [r["position"] for r in rows] == recorded.expected(tenant_id="acme", success=False)
        assert json.loads(outputs["json"].stdout) == rows
        assert [json.loads(line) for line in outputs["jsonl"].stdout.splitlines()] == rows
        table = list(csv.DictReader(io.StringIO(outputs["csv"].stdout)))
        assert list(table[0]) == list(rows[0])
        for got, want in zip(table, rows, strict=True):
            assert got == {k: csv_text(v) for k, v in want.items()}

    def test_relative_times_and_flags_select_like_the_facade(self, recorded: Recorded) -> None:
        everything = run_audit(recorded.url, "--since", "1h", "--format", "jsonl", "--limit", "100")
        nothing = run_audit(recorded.url, "--until", "1h", "--format", "jsonl")
        grep = run_audit(recorded.url, "--grep", "ÄRGER", "--succeeded", "--format", "jsonl")

        assert everything.returncode == nothing.returncode == grep.returncode == 0
        assert [json.loads(x)["position"] for x in everything.stdout.splitlines()] == (
            recorded.expected()
        )
        assert nothing.stdout == ""
        assert [json.loads(x)["position"] for x in grep.stdout.splitlines()] == (
            recorded.expected(grep="ärger", success=True)
        )
        assert recorded.expected(grep="ärger", success=True)


FORMATS = ("json", "jsonl", "csv")


def csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
