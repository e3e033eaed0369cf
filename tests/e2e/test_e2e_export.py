"""`audit --all` through the installed CLI: every matching attempt as CSV (the columns of
`audit -o csv`) or JSON Lines, exact; messages with newlines, quotes, commas and NUL
round-trip through Python's csv module. Both backends."""

from __future__ import annotations

import csv
import io

import pytest
from support import TENANT, Cli, report, sqlite_only
from test_e2e_output import EVERYTHING, LOOKS_ESCAPED, csv_messages

from deployledger import Ledger

MESSAGES = [
    None,
    "",
    'line one\nline two\r\n"quoted", with, commas',
    "nul\x00inside and a \\0 that is not one",
    LOOKS_ESCAPED,
    EVERYTHING,
    "部署失败 🚀",
]


@pytest.fixture
def exported(migrated_url: str) -> str:
    """A store holding one attempt per message (TENANT), and 30 ordinary ones of `other`."""
    with Ledger.open(migrated_url, create=True) as ledger:
        ledger.record_many(
            [report(f"rt-{n}", success=False, message=m) for n, m in enumerate(MESSAGES)]
        )
        ledger.record_many([report(f"o-{n}", tenant="other", success=True) for n in range(30)])
    return migrated_url


def test_csv_round_trips_every_message_with_the_audit_columns(exported: str, cli: Cli) -> None:
    out = cli("audit", "--all", "--tenant", TENANT, store=exported).out
    paged = cli("audit", "--tenant", TENANT, "-o", "csv", store=exported).out
    assert out == paged  # the same header, columns and rows as one page
    expected = [m or "" for m in reversed(MESSAGES)]
    assert csv_messages(out) == expected
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert len(rows) == 1 + len(MESSAGES)


def test_jsonl_holds_every_matching_attempt_exactly(exported: str, cli: Cli) -> None:
    lines = cli("audit", "--all", "-o", "jsonl", store=exported).json_lines()
    assert len(lines) == len(MESSAGES) + 30
    assert [r["position"] for r in lines] == sorted((r["position"] for r in lines), reverse=True)
    mine = [r["statusMessage"] for r in lines if r["tenantId"] == TENANT]
    assert mine == list(reversed(MESSAGES))
    failed = cli("audit", "--all", "--failed", "--json", store=exported, expect=2)
    assert "csv or jsonl" in failed.err


def test_an_empty_export_is_the_header_alone(exported: str, cli: Cli) -> None:
    out = cli("audit", "--all", "--tenant", "nobody", "-o", "csv", store=exported).out
    assert out.startswith("tenantId,workloadRtId,kind,")
    assert out.count("\r\n") == 1
    assert cli("audit", "--all", "--tenant", "nobody", "-o", "jsonl", store=exported).out == ""


@sqlite_only("migrated_url")
@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--cursor", "abc"), "--cursor"),
        (("--limit", "5"), "--limit"),
        (("-o", "json"), "csv or jsonl"),
        (("--since", "yesterday"), "--since"),
    ],
)
def test_bad_export_options_say_one_line_and_exit_2(
    exported: str, cli: Cli, args: tuple[str, ...], said: str
) -> None:
    result = cli("audit", "--all", *args, store=exported, expect=2)
    assert said in result.err
    assert len(result.err.strip().splitlines()) == 1
