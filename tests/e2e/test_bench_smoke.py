"""The benchmarks run end to end on both backends (quick sizes): `python -m bench all`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(1500)  # beyond the run's own 1,200 s
def test_bench_all_quick_prints_the_readme_tables_on_both_backends(
    tmp_path: Path, postgres_admin_dsn: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "all", "--quick", "--output", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for heading in ("SQLite", "PostgreSQL", "record_many", "rebuild"):
        assert heading in done.stdout
    assert {p.name for p in tmp_path.iterdir()} >= {"writes.md", "readmodel.md"}


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
