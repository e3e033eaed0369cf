"""`deployledger failures`, `reclassify` and `audit --category/--fingerprint` through the
installed entry point, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from support import EXAMPLES, report, run_in_process, sqlite_only

from deployledger import Ledger

REPORTS = EXAMPLES
ALL = ("--since", "1970-01-01")  # the examples happened in November 2026


def recorded(migrated_url: str) -> None:
    run_in_process("migrate", store=migrated_url)
    run_in_process("record", REPORTS, store=migrated_url)


def test_failures_lists_the_librarys_groups_as_a_table_and_as_json(migrated_url: str) -> None:
    recorded(migrated_url)
    with Ledger.open(migrated_url) as ledger:
        expected = [g.to_json() for g in ledger.failures()]
    assert expected
    found = run_in_process("failures", "--json", *ALL, store=migrated_url).json()
    assert found == expected
    table = run_in_process("failures", *ALL, store=migrated_url).lines()
    assert table[0].split()[:3] == ["FINGERPRINT", "CATEGORY", "ATTEMPTS"]
    assert [line.split()[0] for line in table[1:]] == [g["fingerprint"] for g in expected]
    lines = run_in_process("failures", "-o", "jsonl", *ALL, store=migrated_url).json_lines()
    assert lines == expected


def test_failures_filters_and_csv(migrated_url: str) -> None:
    recorded(migrated_url)
    with Ledger.open(migrated_url) as ledger:
        expected = ledger.failures(tenant_id="globex", category="unknown")
    found = run_in_process(
        "failures",
        "--tenant",
        "globex",
        "--category",
        "UNKNOWN",
        "--json",
        *ALL,
        store=migrated_url,
    ).json()
    assert [g["fingerprint"] for g in found] == [g.fingerprint for g in expected]
    csv_out = run_in_process(
        "failures", "-o", "csv", "--since", "2020-01-01", store=migrated_url
    ).out
    assert csv_out.splitlines()[0].startswith("fingerprint,category,attempts")


def test_audit_by_fingerprint_gives_the_groups_attempts(migrated_url: str) -> None:
    recorded(migrated_url)
    groups = run_in_process("failures", "--json", *ALL, store=migrated_url).json()
    biggest = groups[0]
    rows = run_in_process(
        "audit", "--fingerprint", biggest["fingerprint"], "--json", store=migrated_url
    ).json()
    assert len(rows) == biggest["attempts"]
    assert rows[0]["statusMessage"] == biggest["example"]
    by_category = run_in_process(
        "audit", "--category", biggest["category"], "--json", "--limit", "1000", store=migrated_url
    ).json()
    assert {r["position"] for r in rows} <= {r["position"] for r in by_category}
    assert all(not r["success"] for r in by_category)


def test_reclassify_says_what_it_did(migrated_url: str) -> None:
    recorded(migrated_url)
    run_in_process("failures", store=migrated_url)  # the read model catches up
    out = run_in_process("reclassify", store=migrated_url).out
    assert "already applied" in out
    forced = run_in_process("reclassify", "--force", store=migrated_url).out
    assert "0 of" in forced
    assert "failed attempts changed" in forced


@sqlite_only("migrated_url")
def test_bad_input_is_one_line_and_exit_2(migrated_url: str) -> None:
    recorded(migrated_url)
    for args in (
        ["failures", "--category", "nope"],
        ["failures", "--since", "yesterday"],
        ["failures", "--limit", "0"],
        ["failures", "--limit", "many"],
        ["audit", "--category", "nope"],
    ):
        result = run_in_process(*args, store=migrated_url, expect=2)
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert result.err.startswith("deployledger: ")
    assert (
        json.loads(
            run_in_process("failures", "--json", "--tenant", "nobody", store=migrated_url).out
        )
        == []
    )


def test_failures_cover_the_last_24_hours_unless_since_is_given(migrated_url: str) -> None:
    now = datetime.now(UTC)
    run_in_process("migrate", store=migrated_url)
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
    run_in_process("record", store=migrated_url, stdin="\n".join(json.dumps(r) for r in sent))
    (recent,) = run_in_process("failures", "--json", store=migrated_url).json()
    assert (recent["attempts"], recent["exampleWorkloadRtId"]) == (1, "rt-new")
    (both,) = run_in_process("failures", "--since", "2d", "--json", store=migrated_url).json()
    assert both["attempts"] == 2
    assert "[default: 24h]" in run_in_process("failures", "--help", store=migrated_url).out
    none = run_in_process("failures", "--since", "30m", store=migrated_url)
    assert none.err == "no failed attempts match since 30m\n"
