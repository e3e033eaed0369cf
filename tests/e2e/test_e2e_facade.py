"""The read-model commands answer exactly what the library's facade answers, on both backends.

Each store is filled in-process through `Ledger` (with a model of what was recorded, from
support), then read back with the installed `deployledger` console script: `audit` in
every format, `status --json`, exact messages and times, and `rebuild`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from support import (
    EXACT_MESSAGES,
    AuditTrail,
    Cli,
    Fleet,
    audit_trail,
    exact_message_reports,
    fleet_of,
    fleet_summary,
    report,
    reports,
)

from deployledger import Ledger
from deployledger.cli import output

FORMATS = ("json", "jsonl", "csv")


@pytest.fixture
def trail(migrated_url: str) -> Iterator[AuditTrail]:
    """60 reports over 4 tenants, recorded in three chunks a few milliseconds apart."""
    with audit_trail(migrated_url) as made:
        yield made


@pytest.fixture
def fleet(migrated_url: str) -> Iterator[Fleet]:
    """120 reports over 3 tenants and 8 runtime ids, recorded in batches of 30."""
    with fleet_of(migrated_url) as made:
        yield made


def csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class TestAuditCommand:
    def test_json_jsonl_and_csv_give_the_same_full_rows_as_the_facade(
        self, trail: AuditTrail, cli: Cli
    ) -> None:
        filters = ["--tenant", "acme", "--failed", "--limit", "1000"]
        outputs = {fmt: cli("audit", *filters, "--format", fmt, store=trail.url) for fmt in FORMATS}

        rows = [
            a.to_audit_json()
            for a in trail.ledger.audit(tenant_id="acme", success=False, limit=1000).items
        ]
        assert [r["position"] for r in rows] == trail.expected(tenant_id="acme", success=False)
        assert outputs["json"].json() == rows
        assert outputs["jsonl"].json_lines() == rows
        table = list(csv.DictReader(io.StringIO(outputs["csv"].out, newline="")))
        assert list(table[0]) == [*rows[0], "statusMessageEscaped"]
        for got, want in zip(table, rows, strict=True):
            # A message holding a NUL is written escaped, and its row says so.
            escaped = got.pop("statusMessageEscaped")
            assert escaped == ("true" if "\x00" in (want["statusMessage"] or "") else "false")
            if escaped == "true":
                got["statusMessage"] = output.unescape_nul(got["statusMessage"])
            assert got == {k: csv_text(v) for k, v in want.items()}

    def test_relative_times_and_flags_select_like_the_facade(
        self, trail: AuditTrail, cli: Cli
    ) -> None:
        everything = cli(
            "audit", "--since", "1h", "--format", "jsonl", "--limit", "100", store=trail.url
        )
        nothing = cli("audit", "--until", "1h", "--format", "jsonl", store=trail.url)
        grep = cli("audit", "--grep", "ÄRGER", "--succeeded", "--format", "jsonl", store=trail.url)

        assert [x["position"] for x in everything.json_lines()] == trail.expected()
        assert nothing.out == ""
        assert [x["position"] for x in grep.json_lines()] == (
            trail.expected(grep="ärger", success=True)
        )
        assert trail.expected(grep="ärger", success=True)


class TestStatusCommand:
    def test_status_json_gives_the_same_rows_as_the_facade_for_filters_in_any_case(
        self, fleet: Fleet, cli: Cli
    ) -> None:
        args = ["--tenant", "acme", "--state", "ERROR", "--json"]
        rows = cli("status", *args, store=fleet.url).json()

        assert rows == [
            w.to_json() for w in fleet.ledger.workloads(tenant_id="acme", state="error")
        ]
        assert [fleet_summary((r["tenantId"], r["workloadRtId"]), r) for r in rows] == (
            fleet.expected("acme", None, "error")
        )
        assert rows


class TestExactMessagesAndTimes:
    def test_every_message_round_trips_through_audit_jsonl_and_status_json(
        self, migrated_url: str, cli: Cli
    ) -> None:
        with Ledger.open(migrated_url, create=True) as ledger:
            receipts = [ledger.record(sent) for sent in exact_message_reports()]
            assert ledger.read_position() == 0  # the command itself must catch up

        rows = cli("audit", "--format", "jsonl", "--limit", "100", store=migrated_url).json_lines()
        status = cli("status", "--json", store=migrated_url).json()

        assert [r["position"] for r in rows] == sorted((r.position for r in receipts), reverse=True)
        assert {r["workloadRtId"]: r["statusMessage"] for r in rows} == EXACT_MESSAGES
        assert {s["workloadRtId"]: s["statusMessage"] for s in status} == EXACT_MESSAGES

    def test_recorded_at_and_reported_at_keep_their_instants(
        self, migrated_url: str, cli: Cli
    ) -> None:
        with Ledger.open(migrated_url, create=True) as ledger:
            receipt = ledger.record(report(reportedAt="2024-01-01T12:00:00.123456+02:00"))

        rows = cli("audit", "--format", "jsonl", store=migrated_url).json_lines()

        assert datetime.fromisoformat(rows[0]["recordedAt"]) == receipt.recorded_at
        assert datetime.fromisoformat(rows[0]["reportedAt"]) == datetime(
            2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC
        )


class TestRebuildCommand:
    def test_the_rebuild_command_shows_progress_and_a_summary(
        self, migrated_url: str, cli: Cli
    ) -> None:
        workloads = 300
        with Ledger.open(migrated_url, create=True) as ledger:
            ledger.record_many(reports(500, rtid=lambda n, _: f"rt-{n % workloads:04d}"))

        done = cli("rebuild", store=migrated_url)

        events = 500 + workloads  # the attempts, and one registration per workload
        assert done.out.strip() == (
            f"rebuilt read model: {events} events, {workloads} workloads, "
            f"500 attempts; switched at position {events}"
        )
        assert f"{events}/{events} events" in done.err
        assert "ev/s" in done.err
        assert "ETA" in done.err
        with Ledger.open(migrated_url) as ledger:
            assert ledger.read_position() == events
            assert len(ledger.workloads()) == workloads
