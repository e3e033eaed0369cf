"""Exit codes mean what they say: 3 only when a retry can succeed, 2 when the store (or the
command line) must be fixed first; every error is one line on stderr.

The store failures are the table of tests/store_failures.py, each set up for real; the
library's side of the same table is tests/integration/test_store_errors.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from store_conditions import Case, Where
from store_failures import cases
from support import RT_ID, TENANT, Cli, report

ARGS = {
    "migrate": ["migrate"],
    "record": ["record", "-"],
    "status": ["status"],
    "show": ["show", TENANT, RT_ID],
    "history": ["history", TENANT, RT_ID],
    "audit": ["audit"],
}


@pytest.fixture
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    return Where(
        tmp_path,
        lambda: str(request.getfixturevalue("postgres_admin_dsn")),
        template=lambda: str(request.getfixturevalue("postgres_template")),
        dropper=lambda: request.getfixturevalue("dropper"),
    )


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize("case", cases())
def test_each_store_failure_exits_with_its_code_and_one_line(
    case: Case, where: Where, cli: Cli
) -> None:
    cwd = where.tmp_path / "cwd"
    cwd.mkdir()
    with case.setup(where) as situation:
        args = ARGS[situation.op]
        if situation.read_model is not None:
            args = ["--read-model", situation.read_model, *args]
        stdin = json.dumps(report()) if situation.op == "record" else None
        result = cli(*args, store=situation.url, stdin=stdin, cwd=cwd, expect=situation.code)
    assert list(cwd.iterdir()) == []
    if situation.code == 0:
        return
    assert result.out == ""
    line = one_line(result.err)
    assert line.startswith("deployledger: ")
    for fragment in situation.says:
        assert fragment in line
    for secret in situation.never_says:
        assert secret not in result.err
    assert "create=True" not in line  # Python advice, not for a CLI user


@pytest.mark.parametrize(
    ("args", "says", "help_of"),
    [
        pytest.param(["--bogus", "status"], "No such option '--bogus'", "", id="unknown-option"),
        pytest.param(
            ["record", "--bogus"], "No such option '--bogus'", "record", id="unknown-cmd-option"
        ),
        pytest.param(
            ["show", TENANT], "Missing argument 'WORKLOAD_RT_ID'", "show", id="missing-argument"
        ),
        pytest.param(
            ["status", "--state", "bogus"],
            "Invalid value for '--state': 'bogus' is not one of",
            "status",
            id="bad-choice",
        ),
        pytest.param(
            ["history", TENANT, RT_ID, "--limit", "0"],
            "Invalid value for '--limit'",
            "history",
            id="bad-range",
        ),
        pytest.param(
            ["audit", "--sinse", "1h"],
            "No such option '--sinse'. ",
            "audit",
            id="did-you-mean",
        ),
        pytest.param(["no-such-command"], "No such command 'no-such-command'", "", id="command"),
    ],
)
def test_a_usage_error_is_one_line_that_says_where_help_is(
    cli: Cli, tmp_path: Path, args: list[str], says: str, help_of: str
) -> None:
    result = cli(*args, cwd=tmp_path, expect=2)
    line = one_line(result.err)
    assert line.startswith(f"deployledger: {says}")
    if "--sinse" in args:
        assert "Did you mean" in line
        assert "'--since'" in line
    command = f"deployledger {help_of}".strip()
    assert line.endswith(f"(see {command} --help)")
    assert result.out == ""
    assert list(tmp_path.iterdir()) == []
