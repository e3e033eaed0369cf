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
# Smaller still than `--quick`: one run of everything, one rebuilt store, stores of about a
# thousand rows (the least the options take), the shortest loads. The smoke test is that
# every measurement of a suite runs and is reported on both backends; the sizes that make the
# numbers mean something are the full run's.
SMOKE = [
    "--quick",
    "--runs=1",  # and --slow-runs 1
    "--ops=5",
    "--prior=20",
    "--many=200",
    "--many-chunk=100",  # two calls
    "--imports=200",
    "--sizes=2000",  # one store: a report a workload besides the 1,000 registrations
    "--query-small=1500",
    "--queries=5",
    "--overdue-fleet=1000,1100",
    "--asof-sizes=2000,5000",  # smaller stores leave some of its 400 workloads without rows
    "--failures-sizes=1000,1100",
    "--export-rows=300",
    "--export-runs=1",
    "--log-events=300",
    "--log-runs=1",
]
# The suite's measurements that start many services (`http-floor`, `http-burst`: seven
# `serve` or floor processes per backend and run) are smoke-tested piece by piece below
# instead, on SQLite, in a few seconds. The requests/s load: one `serve --workers 1` (a
# service with more workers takes many seconds to start here), one client process of two
# connections, half a second counted.
ONLY = {
    "http": [
        "--only=http",
        "--http-workers=1",
        "--client-processes=1",
        "--client-threads=2",
        "--rps-seconds=0.5",
        "--rps-warm=0.2",
    ]
}


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
    argv = [sys.executable, "-m", "bench", suite, *SMOKE, *ONLY.get(suite, [])]
    done = subprocess.run(
        [*argv, "--output", str(tmp_path)],
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


# The floor service (`bench.floor`) stores what it is posted; the raw burst's threads write
# every body; the burst's client processes post every report. One floor service, on SQLite.
FLOOR_SMOKE = """
import sqlite3, sys, tempfile
from pathlib import Path
from bench.burst import _body, _burst, _Poster
from bench.floor import raw_burst
from bench.http import floor_serving
from bench.stores import Store

def stored(store):
    conn = sqlite3.connect(store.path)
    try:
        query = "SELECT count(*), count(DISTINCT message_id) FROM floor_reports"
        return conn.execute(query).fetchone()
    finally:
        conn.close()

tmp = Path(sys.argv[1])
raw = Store("sqlite", "", str(tmp / "raw.db"))
seconds, latencies = raw_burst(raw, [_body(i, "raw") for i in range(96)], 32)
assert len(latencies) == 96 and stored(raw) == (96, 96), stored(raw)
served = Store("sqlite", "", str(tmp / "floor.db"))
with floor_serving(served, 1) as base:
    poster = _Poster(base, None)
    for i in range(5):
        poster(_body(i, "one"))
    poster.close()
    rate, latencies, problem = _burst(base, "unused", "burst", 64)
assert not problem and len(latencies) == 64 and rate > 0, (problem, rate)
assert stored(served) == (69, 69), stored(served)
print("ok")
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_floor_service_and_the_raw_burst_store_every_report(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FLOOR_SMOKE, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ok"]
