"""Status messages and times stored exactly by the read model (issue 3), on both backends.

NUL (which PostgreSQL `text` rejects), 1 MiB texts and any Unicode must come back exactly
through `ledger.audit()`, `ledger.workloads()`, a rebuild, and `deployledger audit --format
jsonl` run as a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from deployledger import Ledger

CLI = str(Path(sys.executable).parent / "deployledger")
MIB = 1024 * 1024

MESSAGES: dict[str, str | None] = {
    "none": None,
    "empty": "",
    "nul-inside": "before\x00after",
    "nul-alone": "\x00",
    "nul-many": "\x00\x00 x \x00",
    "replacement-char": "\ufffd is not a NUL",
    "emoji": "🚀🔥 deploy failed 👩‍👩‍👧 ✅ 🇩🇪",
    "cjk": "部署失败：另一个操作（安装/升级/回滚）正在进行中",
    "rtl": "فشل النشر: عملية أخرى قيد التقدم \u200f שגיאה בפריסה",
    "combining": "e\u0301 is not \u00e9; A\u030a is not \u00c5",
    "controls": "tab\tcr\rlf\nff\x0c\x1b[31mred\x1b[0m \u2028\u2029 \x7f",
    "spaces": "  leading and trailing  \n",
    "1mib-ascii": "x" * MIB,
    "1mib-two-byte": "é" * (MIB // 2),
    "1mib-four-byte": "😀" * (MIB // 4),
    "1mib-with-nul": "a\x00" * (MIB // 2),
}


def report(rtid: str, message: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "tenantId": "acme",
        "workloadName": f"name-{rtid}",
        "workloadRtId": rtid,
        "success": False,
        "statusMessage": message,
        **extra,
    }


def run_cli(url: str, *args: str) -> list[Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYLEDGER_")}
    done = subprocess.run(
        [CLI, "--store", url, *args],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    text = done.stdout.decode("utf-8")
    if args[0] == "status":
        return list(json.loads(text))
    return [json.loads(line) for line in text.split("\n") if line]


class TestExactMessages:
    def test_sizes_are_as_named(self) -> None:
        for name, message in MESSAGES.items():
            if name.startswith("1mib"):
                assert message is not None
                assert len(message.encode("utf-8")) == MIB, name

    def test_every_message_round_trips_through_the_facade_and_a_rebuild(
        self, store_url: str
    ) -> None:
        with Ledger.open(store_url, create=True) as ledger:
            for name, message in MESSAGES.items():
                ledger.record(report(name, message))

            audit = {a.workload_rt_id: a.status_message for a in ledger.audit(limit=100).items}
            fleet = {w.workload_rt_id: w.status_message for w in ledger.workloads()}
            ledger.rebuild()
            rebuilt = {a.workload_rt_id: a.status_message for a in ledger.audit(limit=100).items}
            refleet = {w.workload_rt_id: w.status_message for w in ledger.workloads()}

        assert audit == MESSAGES
        assert fleet == MESSAGES
        assert rebuilt == MESSAGES
        assert refleet == MESSAGES

    def test_every_message_round_trips_through_the_audit_command_as_jsonl(
        self, store_url: str
    ) -> None:
        with Ledger.open(store_url, create=True) as ledger:
            receipts = [ledger.record(report(name, m)) for name, m in MESSAGES.items()]
            assert ledger.read_position() == 0  # the command itself must catch up

        rows = run_cli(store_url, "audit", "--format", "jsonl", "--limit", "100")
        status = run_cli(store_url, "status", "--json")

        assert [r["position"] for r in rows] == sorted((r.position for r in receipts), reverse=True)
        assert {r["workloadRtId"]: r["statusMessage"] for r in rows} == MESSAGES
        assert {s["workloadRtId"]: s["statusMessage"] for s in status} == MESSAGES

    def test_a_message_grows_to_one_mebibyte_and_back_on_the_same_workload(
        self, store_url: str
    ) -> None:
        sequence = ["short", "ü" * (MIB // 2), "a\x00b", "x" * MIB, None, "done"]
        with Ledger.open(store_url, create=True) as ledger:
            for number, message in enumerate(sequence):
                ledger.record(report("rt-grow", message))
                state = ledger.workloads()[0]
                assert state.status_message == message, number
            history = [a.status_message for a in ledger.audit(workload_rt_id="rt-grow").items]
        assert history == sequence[::-1]


class TestExactTimes:
    def test_recorded_at_and_reported_at_keep_their_instants(
        self, store_url: str, request: pytest.FixtureRequest
    ) -> None:
        with Ledger.open(store_url, create=True) as ledger:
            receipt = ledger.record(
                report("rt-time", "late", reportedAt="2024-01-01T12:00:00.123456+02:00")
            )
            item = ledger.audit().items[0]
            history = ledger.history("acme", "rt-time")[0]
        rows = run_cli(store_url, "audit", "--format", "jsonl")

        expected = datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
        assert item.recorded_at == receipt.recorded_at
        assert datetime.fromisoformat(rows[0]["recordedAt"]) == receipt.recorded_at
        assert history.reported_at == expected  # the event store has it right
        assert item.reported_at == expected
        assert datetime.fromisoformat(rows[0]["reportedAt"]) == expected
