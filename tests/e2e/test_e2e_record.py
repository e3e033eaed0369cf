"""`deployledger record`: output, input forms, JSON receipts, all or nothing."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import lifecycle_keys
import pytest
from support import (
    EXAMPLE_RT_ID,
    EXAMPLE_TENANT,
    EXAMPLES,
    TENANT,
    Cli,
    is_sqlite,
    report,
    sqlite_path,
)


def expected_lines(reports: list[dict[str, Any]], verb: str) -> list[str]:
    """One receipt line per report, with attempt numbers counted per workload."""
    seen: Counter[tuple[str, str]] = Counter()
    lines = []
    for r in reports:
        seen[r["tenantId"], r["workloadRtId"]] += 1
        state = "Deployed" if r["success"] else "Error"
        n = seen[r["tenantId"], r["workloadRtId"]]
        lines.append(f"{verb} {r['tenantId']}/{r['workloadRtId']} attempt {n} {state}")
    return lines


def test_record_prints_one_line_per_report_and_is_idempotent(
    store: str, cli: Cli, examples: list[dict[str, Any]]
) -> None:
    assert len({r["messageId"] for r in examples}) == len(examples)  # precondition

    first = cli("record", EXAMPLES, store=store)
    assert first.lines()[0] == f"recorded {EXAMPLE_TENANT}/{EXAMPLE_RT_ID} attempt 1 Deployed"
    assert first.lines() == expected_lines(examples, "recorded")
    assert first.err == ""

    again = cli("record", EXAMPLES, store=store)
    assert again.lines() == expected_lines(examples, "duplicate")

    history = cli("history", "--json", EXAMPLE_TENANT, EXAMPLE_RT_ID, store=store).json()
    assert [h["attempt"] for h in history] == [7, 6, 5, 4, 3, 2, 1]


def test_record_input_forms_stdin_several_files_and_json_receipts(
    store: str, cli: Cli, tmp_path: Path
) -> None:
    rtid = "forms-0001"
    made = [
        report(rtid, success=i % 3 != 1, message=f"report {i}", messageId=f"forms-{i}")
        for i in range(8)
    ]
    states = ["Deployed" if r["success"] else "Error" for r in made]

    single = tmp_path / "single.json"  # one object, pretty-printed
    single.write_text(json.dumps(made[0], indent=2) + "\n", encoding="utf-8")
    array = tmp_path / "array.json"  # an array of objects over many lines
    array.write_text(json.dumps(made[1:3], indent=4), encoding="utf-8")
    lines = tmp_path / "lines.jsonl"  # JSON Lines, with a blank line and no final newline
    lines.write_text(json.dumps(made[3]) + "\n\n" + json.dumps(made[4]), encoding="utf-8")

    several = cli("record", single, array, lines, store=store)
    assert several.lines() == [
        f"recorded {TENANT}/{rtid} attempt {n} {states[n - 1]}" for n in range(1, 6)
    ]

    no_file = cli("record", store=store, stdin=json.dumps(made[5]) + "\n")
    assert no_file.lines() == [f"recorded {TENANT}/{rtid} attempt 6 {states[5]}"]

    tail = tmp_path / "tail.jsonl"  # the last report, and a re-send of the first one
    tail.write_text(json.dumps(made[7]) + "\n" + json.dumps(made[0]) + "\n", encoding="utf-8")
    dash = cli("record", "--json", "-", tail, store=store, stdin=json.dumps([made[6]]))
    receipts = dash.json_lines()
    assert len(receipts) == 3
    for receipt in receipts:
        assert set(receipt) == lifecycle_keys.RECEIPT
        assert receipt["kind"] == "outcome"
        assert (receipt["tenantId"], receipt["workloadRtId"]) == (TENANT, rtid)
        assert isinstance(receipt["position"], int)
        assert datetime.fromisoformat(receipt["recordedAt"]).tzinfo is not None
    assert [(r["attempt"], r["state"], r["duplicate"]) for r in receipts] == [
        (7, "Deployed", False),
        (8, "Error", False),
        (1, "Deployed", True),
    ]
    assert receipts[0]["position"] < receipts[1]["position"]

    history = cli("history", "--json", TENANT, rtid, store=store).json()
    assert [h["statusMessage"] for h in history] == [f"report {i}" for i in range(7, -1, -1)]
    assert [h["messageId"] for h in history] == [f"forms-{i}" for i in range(7, -1, -1)]
    assert [h["state"] for h in history] == states[::-1]


def bad_jsonl() -> str:
    """Report 1 is valid; 2 has a string `success`; 3 is not JSON; 4 (on line 5, after a
    blank line) has no workloadRtId."""
    good = report("aon-0001", messageId="aon-1")
    wrong_type = report("aon-0002", messageId="aon-2", success="true")
    missing = report("aon-0003", messageId="aon-4")
    del missing["workloadRtId"]
    broken = '{"tenantId": "t1", "workloadName": oops'
    return "\n".join([json.dumps(good), json.dumps(wrong_type), broken, "", json.dumps(missing)])


def test_record_is_all_or_nothing_and_lists_every_problem(
    store: str, cli: Cli, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(bad_jsonl() + "\n", encoding="utf-8")

    result = cli("record", bad, store=store, expect=2)
    assert result.out == ""
    problems = [line for line in result.err.splitlines() if line.startswith("report ")]
    assert len(problems) == 3, result.err
    assert problems[0].startswith("report 2 (line 2): success: ")
    assert problems[1].startswith("report 3 (line 3): ")
    assert "JSON" in problems[1]
    assert problems[2].startswith("report 4 (line 5): workloadRtId: ")
    assert "report 1" not in result.err

    missing = cli("show", TENANT, "aon-0001", store=store, expect=None)
    if is_sqlite(store) and not sqlite_path(store).exists():
        assert missing.code == 2  # no store at all: SchemaMissing
        assert len(missing.err.strip().splitlines()) == 1
    else:
        assert missing.code == 1
        assert "no reports recorded" in missing.err


def test_record_several_files_is_all_or_nothing_across_files(cli: Cli, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(report("files-0001")) + "\n", encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(report("files-0002", success=None)) + "\n", encoding="utf-8")

    result = cli("record", good, bad, store=store, expect=2)
    assert "report 1 (line 1): success: " in result.err
    assert "bad.jsonl" in result.err
    assert "good.jsonl" not in result.err
    alone = cli("record", good, store=store)  # attempt 1: the failed run stored nothing
    assert alone.lines() == [f"recorded {TENANT}/files-0001 attempt 1 Deployed"]


def test_record_pretty_array_problem_has_element_line(cli: Cli, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    items = [report("arr-0001"), report("arr-0002", success=1), report("arr-0003")]
    text = json.dumps(items, indent=2)
    second_line = text[: text.index('"arr-0002"')].rindex("{")
    line = text.count("\n", 0, second_line) + 1

    result = cli("record", store=store, stdin=text, expect=2)
    assert f"report 2 (line {line}): success: " in result.err
    assert "report 1" not in result.err
    assert "report 3" not in result.err


def test_record_rejects_a_json_string_that_contains_a_report(cli: Cli, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    smuggled = json.dumps(json.dumps(report("str-0001")))  # "{\"tenantId\": ...}"
    result = cli("record", store=store, stdin=smuggled + "\n", expect=None)
    assert result.code == 2
    assert "report 1 (line 1): " in result.err
    assert "JSON object" in result.err


def truncated_line() -> tuple[str, list[str]]:
    """JSON Lines whose line 1 lost its closing brace and whose line 2 has a bad field."""
    first = json.dumps(report("cut-0001"))[:-1]
    second = json.dumps(report("cut-0002", success="yes"))
    third = json.dumps(report("cut-0003"))
    text = "\n".join([first, second, third]) + "\n"
    return text, ["report 1 (line 1): ", "report 2 (line 2): success: "]


def broken_pretty_object() -> tuple[str, list[str]]:
    """One pretty-printed object with a syntax error on line 3: one report, one problem."""
    text = '{\n  "tenantId": "t1",\n  "workloadName": oops,\n  "success": true\n}\n'
    return text, ["report 1 (line 3): "]


@pytest.mark.parametrize("case", [truncated_line, broken_pretty_object])
def test_record_invalid_json_is_reported_once_on_its_own_line(
    cli: Cli, tmp_path: Path, case: Any
) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    text, expected = case()
    result = cli("record", store=store, stdin=text, expect=2)
    problems = [line for line in result.err.splitlines() if line.startswith("report ")]
    assert len(problems) == len(expected), result.err
    for line, prefix in zip(problems, expected, strict=True):
        assert line.startswith(prefix), result.err
