"""The read-model commands (status, audit, project, rebuild) run as the installed CLI."""

from __future__ import annotations

import csv
import io
import json
import signal
import time
from pathlib import Path
from typing import Any

import lifecycle_keys
from support import EXAMPLE_RT_ID, EXAMPLE_TENANT, EXAMPLES, Cli, report, spawn


def _expected_failures(examples: list[dict[str, Any]], tenant: str) -> int:
    return sum(1 for r in examples if r["tenantId"] == tenant and r["success"] is False)


def test_status_lists_the_fleet_with_filters(
    recorded: str, cli: Cli, examples: list[dict[str, Any]]
) -> None:
    table = cli("status", store=recorded).lines()
    assert table[0].split()[:4] == ["TENANT", "WORKLOAD", "RT", "ID"]
    workloads = {(r["tenantId"], r["workloadRtId"]) for r in examples}
    assert len(table) == 1 + len(workloads)

    errors = cli("status", "--state", "error", "--json", store=recorded).json()
    assert [(s["tenantId"], s["workloadRtId"]) for s in errors] == [(EXAMPLE_TENANT, EXAMPLE_RT_ID)]
    assert set(errors[0]) == lifecycle_keys.STATE
    assert errors[0]["state"] == "Error"
    assert errors[0]["consecutiveFailures"] == 1

    acme = cli(
        "status", "--tenant", EXAMPLE_TENANT, "--pool", "pool-eu-west-1", "--json", store=recorded
    )
    assert {s["tenantId"] for s in acme.json()} == {EXAMPLE_TENANT}
    nothing = cli("status", "--tenant", "x' OR '1'='1", "--json", store=recorded)
    assert nothing.json() == []


def test_audit_filters_formats_and_pages(
    recorded: str, cli: Cli, examples: list[dict[str, Any]]
) -> None:
    failed = cli(
        "audit", "--tenant", EXAMPLE_TENANT, "--failed", "--format", "jsonl", store=recorded
    )
    rows = failed.json_lines()
    assert len(rows) == _expected_failures(examples, EXAMPLE_TENANT)
    assert all(set(r) == lifecycle_keys.AUDIT and r["success"] is False for r in rows)
    positions = [r["position"] for r in rows]
    assert positions == sorted(positions, reverse=True)

    grep = cli("audit", "--grep", "ANOTHER OPERATION", "--format", "json", store=recorded).json()
    wanted = [r for r in examples if "another operation" in (r.get("statusMessage") or "").lower()]
    assert len(grep) == len(wanted) >= 1
    assert {r["statusMessage"] for r in grep} == {r["statusMessage"] for r in wanted}

    text = cli(
        "audit",
        "--rt-id",
        EXAMPLE_RT_ID,
        "--tenant",
        EXAMPLE_TENANT,
        "--csv",
        store=recorded,
        expect=2,
    )
    assert "No such option" in text.err
    sheet = cli(
        "audit",
        "--rt-id",
        EXAMPLE_RT_ID,
        "--tenant",
        EXAMPLE_TENANT,
        "--format",
        "csv",
        store=recorded,
    )
    parsed = list(csv.DictReader(io.StringIO(sheet.out)))
    assert [int(r["attempt"]) for r in parsed] == [7, 6, 5, 4, 3, 2, 1]
    assert set(parsed[0]) == lifecycle_keys.AUDIT | {"statusMessageEscaped"}

    seen: list[int] = []
    cursor: list[str] = []
    while True:
        page = cli("audit", "--limit", "7", "--format", "jsonl", *cursor, store=recorded)
        seen += [r["position"] for r in page.json_lines()]
        if "next page: --cursor" not in page.err:
            break
        cursor = ["--cursor", page.err.split("--cursor", 1)[1].split()[0]]
    assert len(seen) == len(set(seen)) == len(examples)
    assert seen == sorted(seen, reverse=True)


def test_audit_time_windows_and_bad_values(recorded: str, cli: Cli) -> None:
    # The examples occurred (reportedAt) in November 2026; the filters use that time.
    everything = cli(
        "audit", "--since", "2026-11-01", "--limit", "1000", "--format", "json", store=recorded
    )
    assert len(everything.json()) > 0
    assert cli("audit", "--until", "2026-11-01", "--format", "json", store=recorded).json() == []
    future = cli("audit", "--since", "2999-01-01T00:00:00Z", "--format", "json", store=recorded)
    assert future.json() == []
    past = cli("audit", "--until", "2000-01-01", "--format", "json", store=recorded)
    assert past.json() == []
    assert cli("audit", "--since", "yesterday", store=recorded, expect=2).code == 2
    assert cli("audit", "--cursor", "not-a-cursor", store=recorded, expect=2).code == 2
    assert cli("audit", "--failed", "--succeeded", store=recorded, expect=2).code == 2


def test_project_and_rebuild_keep_the_same_answers(recorded: str, cli: Cli) -> None:
    before = cli("audit", "--limit", "1000", "--format", "json", store=recorded).json()
    caught = cli("project", store=recorded)
    assert caught.out.startswith("applied 0 events; read model at position")
    rebuilt = cli("rebuild", store=recorded)
    assert "rebuilt read model:" in rebuilt.out
    assert "switched at position" in rebuilt.out
    assert "rebuilding" in rebuilt.err  # the progress bar goes to stderr
    after = cli("audit", "--limit", "1000", "--format", "json", store=recorded).json()
    assert after == before


def test_a_follower_keeps_the_view_live_and_stops_on_sigterm(store: str, cli: Cli) -> None:
    cli("record", EXAMPLES, store=store)
    # A real process: it is stopped by a signal, once it follows.
    follower = spawn("project", "--follow", "--poll-interval", "0.2", store=store)
    try:
        follower.wait_for_stderr("following (leader)")
        sent = report(
            "rt-follow",
            tenant="t-follow",
            success=False,
            message="Error: UPGRADE FAILED: timed out waiting for the condition",
        )
        cli("record", "-", stdin=json.dumps(sent), store=store)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            out = cli("audit", "--tenant", "t-follow", "--format", "json", store=store).json()
            if out:
                break
            time.sleep(0.2)
        assert [r["statusMessage"] for r in out] == [sent["statusMessage"]]
    finally:
        follower.send_signal(signal.SIGTERM)
        stopped = follower.result()  # exit code 0, and no traceback
    assert "stopped at position" in stopped.err


def test_status_on_a_store_that_does_not_exist_says_so(cli: Cli, tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'nope.db'}"
    result = cli("status", store=missing, expect=2)
    assert "does not exist" in result.err
    assert not (tmp_path / "nope.db").exists()
