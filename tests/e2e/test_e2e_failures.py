"""`deployledger failures`, `reclassify` and `audit --category/--fingerprint` through the
installed entry point, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from support import EXAMPLES, report, run_in_process, sqlite_only

from deployledger import Ledger

REPORTS = EXAMPLES
ALL = ("--since", "1970-01-01")  # the examples happened in November 2026


def recorded(store_url: str) -> None:
    run_in_process("migrate", store=store_url)
    run_in_process("record", REPORTS, store=store_url)


def test_failures_lists_the_librarys_groups_as_a_table_and_as_json(store_url: str) -> None:
    recorded(store_url)
    with Ledger.open(store_url) as ledger:
        expected = [g.to_json() for g in ledger.failures()]
    assert expected
    found = run_in_process("failures", "--json", *ALL, store=store_url).json()
    assert found == expected
    table = run_in_process("failures", *ALL, store=store_url).lines()
    assert table[0].split()[:3] == ["FINGERPRINT", "CATEGORY", "ATTEMPTS"]
    assert [line.split()[0] for line in table[1:]] == [g["fingerprint"] for g in expected]
    lines = run_in_process("failures", "-o", "jsonl", *ALL, store=store_url).json_lines()
    assert lines == expected


def test_failures_filters_and_csv(store_url: str) -> None:
    recorded(store_url)
    with Ledger.open(store_url) as ledger:
        expected = ledger.failures(tenant_id="globex", category="unknown")
    found = run_in_process(
        "failures", "--tenant", "globex", "--category", "UNKNOWN", "--json", *ALL, store=store_url
    ).json()
    assert [g["fingerprint"] for g in found] == [g.fingerprint for g in expected]
    csv_out = run_in_process("failures", "-o", "csv", "--since", "2020-01-01", store=store_url).out
    assert csv_out.splitlines()[0].startswith("fingerprint,category,attempts")


def test_audit_by_fingerprint_gives_the_groups_attempts(store_url: str) -> None:
    recorded(store_url)
    groups = run_in_process("failures", "--json", *ALL, store=store_url).json()
    biggest = groups[0]
    rows = run_in_process(
        "audit", "--fingerprint", biggest["fingerprint"], "--json", store=store_url
    ).json()
    assert len(rows) == biggest["attempts"]
    assert rows[0]["statusMessage"] == biggest["example"]
    by_category = run_in_process(
        "audit", "--category", biggest["category"], "--json", "--limit", "1000", store=store_url
    ).json()
    assert {r["position"] for r in rows} <= {r["position"] for r in by_category}
    assert all(not r["success"] for r in by_category)


def test_reclassify_says_what_it_did(store_url: str) -> None:
    recorded(store_url)
    run_in_process("failures", store=store_url)  # the read model catches up
    out = run_in_process("reclassify", store=store_url).out
    assert "already applied" in out
    forced = run_in_process("reclassify", "--force", store=store_url).out
    assert "0 of" in forced
    assert "failed attempts changed" in forced


@sqlite_only("store_url")
def test_bad_input_is_one_line_and_exit_2(store_url: str) -> None:
    recorded(store_url)
    for args in (
        ["failures", "--category", "nope"],
        ["failures", "--since", "yesterday"],
        ["failures", "--limit", "0"],
        ["failures", "--limit", "many"],
        ["audit", "--category", "nope"],
    ):
        result = run_in_process(*args, store=store_url, expect=2)
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert result.err.startswith("deployledger: ")
    assert (
        json.loads(run_in_process("failures", "--json", "--tenant", "nobody", store=store_url).out)
        == []
    )


def test_failures_cover_the_last_24_hours_unless_since_is_given(store_url: str) -> None:
    now = datetime.now(UTC)
    run_in_process("migrate", store=store_url)
    sent = [
        report(
            "rt-old",
            success=False,
            message="boom",
            reportedAt=(now - timedelta(hours=30)).isoformat(),
        ),
        report(
            "rt-new",
            success=False,
            message="boom",
            reportedAt=(now - timedelta(hours=1)).isoformat(),
        ),
    ]
    run_in_process("record", store=store_url, stdin="\n".join(json.dumps(r) for r in sent))
    (recent,) = run_in_process("failures", "--json", store=store_url).json()
    assert (recent["attempts"], recent["exampleWorkloadRtId"]) == (1, "rt-new")
    (both,) = run_in_process("failures", "--since", "2d", "--json", store=store_url).json()
    assert both["attempts"] == 2
    assert "[default: 24h]" in run_in_process("failures", "--help", store=store_url).out
    none = run_in_process("failures", "--since", "30m", store=store_url)
    assert none.err == "no failed attempts match since 30m\n"
