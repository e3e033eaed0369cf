"""The in-process runner of the CLI tests (`support.run_in_process`) gives what the installed
script gives, and leaves this process as it found it."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from support import TENANT, report, run_cli, run_in_process


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        pytest.param(["--help"], None, id="help"),
        pytest.param(["record", "--help"], None, id="command-help"),
        pytest.param(["show"], None, id="usage-error"),
        pytest.param(["record", "-"], json.dumps(report(success="yes")), id="invalid-stdin"),
        pytest.param(["record", "-"], json.dumps(report()), id="record-stdin"),
    ],
)
def test_in_process_gives_the_bytes_and_exit_code_of_the_installed_script(
    tmp_path: Path, args: list[str], stdin: str | None
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    expected = run_cli(*args, stdin=stdin, cwd=tmp_path / "a", expect=None)
    found = run_in_process(*args, stdin=stdin, cwd=tmp_path / "b", expect=None)
    assert (found.code, found.out, found.err) == (expected.code, expected.out, expected.err)
    assert expected.code in (0, 2)


def test_in_process_sees_only_the_environment_and_directory_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOYLEDGER_STORE", f"sqlite:///{tmp_path / 'not-this-one.db'}")
    given = tmp_path / "given.db"
    said = run_in_process("migrate", env={"DEPLOYLEDGER_STORE": f"sqlite:///{given}"})
    assert said.lines() == [f"store sqlite:///{given} is ready"]
    work = tmp_path / "work"
    work.mkdir()
    run_in_process("record", "-", stdin=json.dumps(report()), cwd=work)  # the default store
    assert (work / "deployledger.db").is_file()
    shown = run_in_process("show", "--json", TENANT, report()["workloadRtId"], cwd=work).json()
    assert shown["attempts"] == 1
    assert not (tmp_path / "not-this-one.db").exists()


def test_in_process_leaves_the_environment_directory_streams_and_handlers_as_they_were(
    tmp_path: Path,
) -> None:
    before = (
        dict(os.environ),
        os.getcwd(),
        (sys.stdin, sys.stdout, sys.stderr),
        [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)],
    )
    run_in_process(
        "record", "-", stdin=json.dumps(report()), cwd=tmp_path, env={"TZ": "Asia/Tokyo"}
    )
    run_in_process("show", cwd=tmp_path, env={"DEPLOYLEDGER_STORE": "x"}, expect=2)
    after = (
        dict(os.environ),
        os.getcwd(),
        (sys.stdin, sys.stdout, sys.stderr),
        [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)],
    )
    assert after == before
