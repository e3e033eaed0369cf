"""The benchmarks run end to end on both backends (quick sizes): each suite of
`python -m bench all`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# `bench all` runs these suites one after the other; one test each lets pytest-xdist spread
# them over its workers. What each must print beside the backends' names:
SUITES = {
    "writes": "record_many",
    "readmodel": "rebuild",
    "http": "HTTP",
    "export": "Export",
    "log": "Tamper-evident log",
}  # in bench's own order
# Smaller still than `--quick`: one run of everything, stores of a few thousand rows. The
# smoke test is that every measurement of a suite runs and is reported on both backends;
# the sizes that make the numbers mean something are the full run's.
SMOKE = [
    "--quick",
    "--runs=1",  # and --slow-runs 1
    "--ops=20",
    "--prior=500",
    "--many=2000",
    "--imports=5000",
    "--sizes=2000,5000",
    "--query-small=2000",
    "--queries=10",
    "--overdue-fleet=1000,5000",
    "--asof-sizes=2000,5000",
    "--failures-sizes=2000,10000",
    "--export-rows=5000",
    "--log-events=5000",
]


def test_all_is_every_suite() -> None:
    code = "from bench.__main__ import SUITES, parse; print(*SUITES, parse(['all'])[0])"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [*SUITES, "all"]


def test_a_run_that_measured_0_is_a_warning_in_the_details_not_a_crash() -> None:
    """On a starved machine a run can complete no request: its rate is 0."""
    code = (
        "from bench.report import Result, details; "
        "rows = [Result('sqlite', 'rps', [5.0, 7.0], [0.0, 90.0], '{:,.0f}/s')]; "
        "print(*details(rows), sep='\\n')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "  per-run ratios: –, 0.08\n" in done.stdout
    assert "the baseline varied from 0 across runs" in done.stdout


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(1500)  # beyond the run's own 1,200 s
@pytest.mark.parametrize("suite", sorted(SUITES))
def test_a_quick_bench_prints_the_readme_tables_on_both_backends(
    tmp_path: Path, postgres_admin_dsn: str, suite: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", suite, *SMOKE, "--output", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for heading in ("SQLite", "PostgreSQL", SUITES[suite]):
        assert heading in done.stdout
    assert {p.name for p in tmp_path.iterdir()} == {f"{suite}.md"}


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(900)  # beyond the run's own 600 s
def test_the_bulk_profile_names_where_the_time_goes_on_both_backends(
    postgres_admin_dsn: str,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.profile", "--events", "3000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for backend in ("SQLite", "PostgreSQL"):
        assert f"## {backend}: record_many() of 3,000 reports" in done.stdout
        assert f"## {backend}: rebuild() of 4,000 events" in done.stdout
    assert done.stdout.count("INSERT INTO rebuild_stage") == 2
