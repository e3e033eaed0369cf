"""Seconds are plain decimals on every surface that writes data, on SQLite and PostgreSQL:
deploys that took from one microsecond to thousands of years, read through the HTTP
service's JSON answers (workloads, one workload, history, audit, stats) and its export (CSV
and JSON Lines), and through the CLI's `-o json`, `audit --all` (CSV and JSON Lines) and
`stats --json`. No number is written in exponent notation (`6.4e-05`, `2.2e+11`), and every
duration reads back as the same float."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
from click.testing import CliRunner
from http_support import bearer, in_process
from support import request as deploy_request

from deployledger import Ledger
from deployledger.cli import cli

TENANT = "acme"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
# In microseconds: what Python, SQLite and PostgreSQL write as 1e-06, 6.4e-05, 9.9999e-05 by
# default, the first plain one, then ordinary, and years long.
TOOK = [1, 64, 99, 100, 500_000, 30_000_000, 86_400_000_001, 7000 * 365 * 86_400 * 10**6 + 7]


def record(url: str) -> list[float]:
    """A deploy request and its success per duration; the durations, in seconds."""
    with Ledger.open(url, create=True) as ledger:
        for number, micros in enumerate(TOOK):
            rt = f"{0xD0 + number:024x}"
            done = T0 + timedelta(microseconds=micros)
            ledger.record(deploy_request(rt, tenant=TENANT, reportedAt=T0.isoformat()))
            ledger.record(
                {
                    "tenantId": TENANT,
                    "workloadRtId": rt,
                    "workloadName": f"app-{number}",
                    "poolName": "pool-1",
                    "success": True,
                    "reportedAt": done.isoformat(),
                }
            )
    return [timedelta(microseconds=micros).total_seconds() for micros in TOOK]


def float_literals(text: str) -> list[str]:
    found: list[str] = []

    def keep(literal: str) -> float:
        found.append(literal)
        return float(literal)

    for line in text.splitlines():
        if line.strip():
            json.loads(line, parse_float=keep)
    return found


def durations(rows: list[dict[str, Any]]) -> list[float]:
    return sorted(float(row["durationSeconds"]) for row in rows if row["durationSeconds"])


def csv_rows(text: str) -> list[dict[str, Any]]:
    return list(csv.DictReader(io.StringIO(text)))


def assert_plain(surface: str, text: str) -> None:
    literals = float_literals(text)
    assert literals, surface
    exponent = [literal for literal in literals if "e" in literal.lower()]
    assert not exponent, (surface, exponent)


def run(url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--store", url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_no_surface_writes_seconds_in_exponent_notation(store: str) -> None:
    took = sorted(record(store))
    rt = f"{0xD1:024x}"  # 64 microseconds
    with in_process(store) as (client, tokens):

        def get(path: str, **params: str) -> httpx2.Response:
            return client.get(
                path, params={"tenant": TENANT, **params}, headers=bearer(tokens.admin)
            )

        answers = {
            "/v1/workloads": get("/v1/workloads"),
            "/v1/workloads/{t}/{rt}": get(f"/v1/workloads/{TENANT}/{rt}"),
            "/v1/workloads/{t}/{rt}/history": get(f"/v1/workloads/{TENANT}/{rt}/history"),
            "/v1/audit": get("/v1/audit"),
            "/v1/stats": get("/v1/stats", since="2026-11-01", by="pool"),
            "/v1/audit/export jsonl": get("/v1/audit/export", format="jsonl"),
        }
        export_csv = get("/v1/audit/export", format="csv")
    for surface, answer in answers.items():
        assert answer.status_code == 200, (surface, answer.text)
        assert_plain(surface, answer.text)
    assert answers["/v1/workloads/{t}/{rt}"].json()["lastDurationSeconds"] == 0.000064
    assert '"lastDurationSeconds":0.000064' in answers["/v1/workloads/{t}/{rt}"].text
    assert durations(answers["/v1/audit"].json()) == took
    jsonl = [json.loads(line) for line in answers["/v1/audit/export jsonl"].text.splitlines()]
    assert durations(jsonl) == took
    assert export_csv.status_code == 200
    assert durations(csv_rows(export_csv.text)) == took
    cli_answers = {
        "status -o json": run(store, "status", "--tenant", TENANT, "-o", "json"),
        "history -o json": run(store, "history", TENANT, rt, "-o", "json"),
        "audit --all -o jsonl": run(store, "audit", "--all", "-o", "jsonl"),
        "stats --json": run(store, "stats", "--since", "2026-11-01", "--json"),
    }
    for surface, text in cli_answers.items():
        assert_plain(surface, text)
    audit_csv = run(store, "audit", "--all", "-o", "csv")
    for text in (audit_csv, export_csv.text):
        cells = [row["durationSeconds"] for row in csv_rows(text) if row["durationSeconds"]]
        assert "0.000064" in cells
        assert not [cell for cell in cells if "e" in cell.lower()], cells
    assert durations(csv_rows(audit_csv)) == took
