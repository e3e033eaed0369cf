"""Exit codes, the store's default and environment variable, and PostgreSQL's schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import EXAMPLES, TENANT, Cli, report

UNREACHABLE = "postgresql://postgres:s3cretpw@127.0.0.1:1/nope"


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--bogus", "show", "t", "r"], id="unknown-global-option"),
        pytest.param(["record", "--bogus"], id="unknown-command-option"),
        pytest.param(["show", "acme-prod"], id="missing-argument"),
        pytest.param(["history", "t", "r", "--limit", "0"], id="bad-limit"),
    ],
)
def test_usage_errors_exit_2_and_touch_no_store(cli: Cli, tmp_path: Path, args: list[str]) -> None:
    result = cli(*args, cwd=tmp_path, expect=2)
    assert one_line(result.err).startswith("deployledger: ")
    assert result.out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "env"),
    [
        pytest.param(["--store", UNREACHABLE, "show", "t", "r"], {}, id="option"),
        pytest.param([f"--store={UNREACHABLE}", "history", "t", "r"], {}, id="option="),
        pytest.param(["record", EXAMPLES], {"DEPLOYLEDGER_STORE": UNREACHABLE}, id="env"),
        pytest.param(
            ["--store", "postgresql://app:p%40ss%3Aw0rd@127.0.0.1:1/db", "show", "t", "r"],
            {},
            id="encoded-password",
        ),
    ],
)
def test_unreachable_store_exits_3_without_password_or_traceback(
    cli: Cli, tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    result = cli(*args, env=env, cwd=tmp_path, expect=3)
    line = one_line(result.err)
    assert line.startswith("deployledger: ")
    assert "unavailable" in line
    for secret in ("s3cretpw", "p@ss:w0rd", "p%40ss%3Aw0rd"):
        assert secret not in result.err
        assert secret not in result.out
    assert list(tmp_path.iterdir()) == []


def test_unsupported_store_scheme_exits_2(cli: Cli, tmp_path: Path) -> None:
    result = cli("--store", "mysql://x/y", "show", "t", "r", cwd=tmp_path, expect=2)
    assert "unsupported" in one_line(result.err)


def test_default_store_is_deployledger_db_in_cwd_unless_env_says_otherwise(
    cli: Cli, tmp_path: Path
) -> None:
    reports = tmp_path / "one.json"
    reports.write_text(json.dumps(report("default-0001")), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()

    cli("record", reports, cwd=work)
    assert (work / "deployledger.db").is_file()
    state = cli("show", "--json", TENANT, "default-0001", cwd=work).json()
    assert state["attempts"] == 1

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env_db = tmp_path / "from-env.db"
    env = {"DEPLOYLEDGER_STORE": f"sqlite:///{env_db}"}
    migrated = cli("migrate", cwd=elsewhere, env=env)
    assert migrated.lines() == [f"store sqlite:///{env_db} is ready"]
    assert env_db.is_file()
    result = cli("record", reports, cwd=elsewhere, env=env)
    assert result.lines() == [f"recorded {TENANT}/default-0001 attempt 1 Deployed"]
    assert list(elsewhere.iterdir()) == []


def test_postgres_needs_migrate_before_record(fresh_postgres: str, cli: Cli) -> None:
    refused = cli("record", EXAMPLES, store=fresh_postgres, expect=2)  # fix it first
    assert refused.out == ""
    assert "run `deployledger migrate`" in one_line(refused.err)

    assert "is ready" in cli("migrate", store=fresh_postgres).out
    assert "is ready" in cli("migrate", store=fresh_postgres).out  # idempotent

    recorded = cli("record", EXAMPLES, store=fresh_postgres)
    assert len(recorded.lines()) == 49
    assert all(line.startswith("recorded ") for line in recorded.lines())
