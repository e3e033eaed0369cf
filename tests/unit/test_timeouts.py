"""Every test has a time limit, and a hang fails with every thread's stack, under xdist too
(`timeout` in pyproject.toml, tests/timeouts.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
PYPROJECT = TESTS.parent / "pyproject.toml"

HANGS = """
    import threading

    import pytest


    @pytest.mark.timeout(1)
    def test_hangs():
        waiting = threading.Thread(target=threading.Event().wait, name="helper", daemon=True)
        waiting.start()
        threading.Event().wait()  # blocked in a C-level lock wait, forever
"""


def test_the_project_sets_a_time_limit_for_every_test(pytestconfig: pytest.Config) -> None:
    assert 0 < float(pytestconfig.getini("timeout")) <= 600
    assert pytestconfig.getini("timeout_method") == "thread"


def test_a_hang_under_xdist_fails_in_its_time_limit_with_every_threads_stack(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_hangs.py").write_text(textwrap.dedent(HANGS))
    # Only the plugins that a hang's report goes through (xdist, pytest-timeout and ours):
    # loading every installed one (hypothesis...) in the controller and in the worker took
    # most of this test's time. A crashed worker is not replaced: there is nothing left to run.
    plugins = ["-p", "xdist", "-p", "timeout", "-p", "timeouts", "-p", "no:cacheprovider"]
    project = ["-c", str(PYPROJECT), "--rootdir", str(tmp_path)]
    xdist = ["-n", "1", "--max-worker-restart=0"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *project, *plugins, *xdist, "test_hangs.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(TESTS), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    shown = result.stdout + result.stderr
    assert result.returncode == 1, shown
    assert "worker 'gw0' crashed while running 'test_hangs.py::test_hangs'" in shown
    assert "Timeout: test_hangs.py::test_hangs ran past 1s" in shown
    assert "Stack of helper" in shown
    assert "Stack of MainThread" in shown
    assert "threading.Event().wait()  # blocked in a C-level lock wait, forever" in shown
