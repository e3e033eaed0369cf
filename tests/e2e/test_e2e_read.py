"""`deployledger show` and `deployledger history`, in text and JSON, read back from a store
that holds examples/reports.jsonl; and messages full of control characters."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import lifecycle_keys
from support import EXAMPLE_RT_ID, EXAMPLE_TENANT, TENANT, Cli, report

from deployledger.domain.insights.failures import categorize

# ATTEMPT, OCCURRED AT, KIND, STATE, CHART, DURATION, HELM, EXIT, MESSAGE: the examples are
# outcomes with no request before them, so no chart and no duration.
# ATTEMPT, OCCURRED AT, KIND, STATE, CHART to EXIT (none here), CATEGORY, MESSAGE
ROW = re.compile(r"^\s*(\d+)  (\S+)  outcome  (Deployed|Error)\s+-\s+-\s+-\s+-\s+([a-z-]+)\s*(.*)$")
TERMINAL_CONTROLS = ("\x1b", "\x00", "\x07", "\r")


def instant(text: str) -> datetime:
    """An ISO-8601 timestamp that must carry a zone."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


def assert_in_order(text: str, parts: list[str]) -> None:
    at = 0
    for part in parts:
        found = text.find(part, at)
        assert found >= 0, f"{part!r} missing (in order) from:\n{text}"
        at = found + len(part)


def test_show_text_json_and_unknown_workload(
    recorded: str, cli: Cli, checkout: list[dict[str, Any]]
) -> None:
    last = checkout[-1]["statusMessage"]
    running = [
        cli.spawn("show", EXAMPLE_TENANT, EXAMPLE_RT_ID, store=recorded),
        cli.spawn("show", "--json", EXAMPLE_TENANT, EXAMPLE_RT_ID, store=recorded),
        cli.spawn("show", EXAMPLE_TENANT, "no-such-workload", store=recorded),
    ]
    text = running[0].result().out
    assert text.startswith(f"{EXAMPLE_TENANT}/{EXAMPLE_RT_ID}\n")
    assert re.search(r"^\s+state\s+Error$", text, re.MULTILINE), text
    assert re.search(r"^\s+attempts\s+7\D+4 failed\D+1 in a row", text, re.MULTILINE), text
    assert "checkout-api" in text
    assert "pool-eu-west-1" in text
    assert_in_order(text, [line for line in last.splitlines() if line.strip()])

    state = running[1].result().json()
    assert set(state) == lifecycle_keys.STATE
    assert state["tenantId"] == EXAMPLE_TENANT
    assert state["workloadRtId"] == EXAMPLE_RT_ID
    assert state["workloadName"] == "checkout-api"
    assert state["poolName"] == "pool-eu-west-1"
    assert state["state"] == "Error"
    assert state["statusMessage"] == last
    assert (state["attempts"], state["failures"], state["consecutiveFailures"]) == (7, 4, 1)
    # Outcomes alone: no chart, nothing pending, no duration.
    assert state["deployedChartName"] is state["pendingChartVersion"] is None
    assert state["requestedAt"] is state["lastDurationSeconds"] is None
    assert re.search(r"^\s+pending age\s+-$", text, re.MULTILINE), text
    assert instant(state["lastFailureAt"]) == instant(state["lastAttemptAt"])
    assert instant(state["lastSuccessAt"]) <= instant(state["lastAttemptAt"])

    unknown = running[2].result(expect=1)
    assert unknown.out == ""
    assert "no reports recorded" in unknown.err
    assert f"{EXAMPLE_TENANT}/no-such-workload" in unknown.err


def test_history_table_limit_full_json_and_unknown_workload(
    recorded: str, cli: Cli, checkout: list[dict[str, Any]]
) -> None:
    newest_first = checkout[::-1]
    messages = [r["statusMessage"] for r in newest_first]
    running = [
        cli.spawn("history", EXAMPLE_TENANT, EXAMPLE_RT_ID, store=recorded),
        cli.spawn("history", "--limit", "2", EXAMPLE_TENANT, EXAMPLE_RT_ID, store=recorded),
        cli.spawn("history", "--full", EXAMPLE_TENANT, EXAMPLE_RT_ID, store=recorded),
        cli.spawn("history", "--json", EXAMPLE_TENANT, EXAMPLE_RT_ID, store=recorded),
        cli.spawn("history", "--json", "nobody", EXAMPLE_RT_ID, store=recorded),
    ]

    table = running[0].result().lines()
    assert re.fullmatch(
        r"ATTEMPT\s+OCCURRED AT\s+KIND\s+STATE\s+CHART\s+DURATION\s+HELM\s+EXIT\s+CATEGORY"
        r"\s+MESSAGE",
        table[0],
    ), table[0]
    assert len(table) == 1 + 7
    for line, sent, attempt in zip(table[1:], newest_first, range(7, 0, -1), strict=True):
        row = ROW.match(line)
        assert row, line
        assert int(row[1]) == attempt
        instant(row[2])
        assert row[3] == ("Deployed" if sent["success"] else "Error")
        assert row[4] == ("-" if sent["success"] else categorize(sent["statusMessage"]))
        # The headline: helm's last `Error:` line, else the first line.
        lines = sent["statusMessage"].splitlines()
        first = [line for line in lines if line.startswith("Error:")][-1:] or lines[:1]
        assert row[5].startswith(first[0][:80]), (row[5], first)
    assert "LAST DEPLOYED:" not in "\n".join(table)  # only headlines in the table
    assert "[debug]" not in "\n".join(table)

    limited = running[1].result().lines()
    assert [line.split()[0] for line in limited[1:]] == ["7", "6"]

    full = running[2].result().out
    assert "LAST DEPLOYED:" in full
    assert_in_order(full, ["    " + m.replace("\n", "\n    ") for m in messages])

    items = running[3].result().json()
    assert isinstance(items, list)
    assert [i["attempt"] for i in items] == [7, 6, 5, 4, 3, 2, 1]
    for item, sent in zip(items, newest_first, strict=True):
        assert set(item) == lifecycle_keys.HISTORY
        assert item["kind"] == "outcome"
        assert item["statusMessage"] == sent["statusMessage"]
        assert item["messageId"] == sent["messageId"]
        assert item["success"] is sent["success"]
        assert item["state"] == ("Deployed" if sent["success"] else "Error")
        assert item["workloadName"] == sent["workloadName"]
        assert item["poolName"] == sent["poolName"]
        assert instant(item["reportedAt"]) == instant(sent["reportedAt"])
        instant(item["recordedAt"])
    positions = [i["position"] for i in items]
    assert positions == sorted(positions, reverse=True)
    assert len(set(positions)) == 7

    unknown = running[4].result(expect=1)
    assert unknown.out == ""
    assert "no reports recorded" in unknown.err


def test_control_characters_round_trip_but_never_reach_the_terminal(store: str, cli: Cli) -> None:
    message = (
        "boot\x00nul \x1b[31mred\x1b[0m \x07bell 🚀 ünïcödé 日本語\r\n"
        "second\tline \x1b]0;pwned\x07\n"
        "\n  third  \n"
    )
    sent = report("ctrl-0001", success=False, message=message, messageId="ctrl-1")
    cli("record", store=store, stdin=json.dumps(sent))

    views = [["history", "--json"], ["history"], ["history", "--full"], ["show"]]
    running = [cli.spawn(*args, TENANT, "ctrl-0001", store=store) for args in views]
    items = running[0].result().json()
    assert items[0]["statusMessage"] == message

    for args, view in zip(views[1:], running[1:], strict=True):
        out = view.result().out
        for control in TERMINAL_CONTROLS:
            assert control not in out, (args, control, out)
        assert "🚀 ünïcödé 日本語" in out
        assert "red" in out


def test_history_full_header_lines_up_with_its_rows(cli: Cli, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    cli("record", store=store, stdin=json.dumps(report("align-0001", message="a\nb")))
    lines = cli("history", "--full", TENANT, "align-0001", store=store).lines()
    header, row = lines[0], lines[1]
    assert row.index("Deployed") == header.index("STATE"), f"\n{header}\n{row}"
    assert row.index("20") == header.index("OCCURRED AT"), f"\n{header}\n{row}"
