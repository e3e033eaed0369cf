"""`export`: `deployledger audit --all` over 1,000,000 matching attempts (`--export-rows`),
as CSV (and once as JSON Lines, for information), against the raw floor of the same rows:
PostgreSQL's `COPY (SELECT * FROM deployment_attempts ORDER BY position DESC) TO STDOUT`
read to the end by psycopg, SQLite a raw sqlite3 cursor loop over the same SELECT.
Targets: throughput at least 50% of the floor's, and the exporting process's peak RSS at
most 100 MB above that of the same command exporting nothing.

**How the store is made.** As in bench/overdue.py: the read model's `deployment_attempts`
table is filled by one bulk `INSERT ... SELECT` in the library's own schema (8 tenants,
5,000 workloads, 30% failures; a helm-like message of 60-180 bytes, the successes' with
newlines and quotes; a chart, a duration), the event store left empty, so the catch-up each
call runs first finds nothing to apply. PostgreSQL gets an ANALYZE after the fill.

**What is timed.** The installed `deployledger audit --all [-o jsonl]` as a subprocess, stdout
to /dev/null, wall time from start to exit (interpreter start and imports included), its
peak RSS from `wait4`. The floor runs in this process on a fresh connection. Each is run
`--export-runs` times (3) alternately after one untimed warm-up (which also checks the
row count: the CSV is read back by Python's csv module); medians. The JSON Lines export
runs once.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench import Config
from bench.report import Result
from bench.stores import Store, fresh_store
from deployledger import Ledger

Log = Callable[[str], None]
CLI = str(Path(sys.executable).with_name("deployledger"))
_COLUMNS = (
    "position, tenant_id, workload_rt_id, attempt, recorded_at, reported_at, occurred_at, "
    "success, state, status_message, workload_name, pool_name, message_id, "
    "message_truncated, chart_name, chart_version, request_position, duration, "
    "helm_operation, exit_code"
)
_FILL = """
INSERT INTO deployment_attempts ({columns})
SELECT
  2 * i, 'tenant-' || (w % 8), {hex24}, 1 + i / 5000, {at}, {at}, {at},
  {ok}, CASE WHEN i % 10 < 3 THEN 3 ELSE 2 END,
  CASE WHEN i % 10 < 3
    THEN 'helm upgrade --install svc-' || w || ' failed with exit code 1. stderr: '
         || 'Error: UPGRADE FAILED: context deadline exceeded'
    ELSE 'Release "svc-' || w || '" has been upgraded. Happy Helming!' || {nl} || 'NAME: svc-'
         || w || {nl} || 'STATUS: deployed' || {nl} || 'REVISION: ' || (1 + i / 5000)
  END,
  'svc-' || w, 'pool-' || (w % 4), 'msg-' || i, {false}, 'svc-' || w, '1.' || (i % 50) || '.0',
  2 * i - 1, 30 + i % 200,
  CASE WHEN i % 10 < 3 THEN 'upgrade --install' END,
  CASE WHEN i % 10 < 3 THEN 1 END
FROM (SELECT i, i % 5000 AS w FROM {seq}) AS src
"""
_SQLITE = {
    "seq": "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
    "SELECT i FROM s)",
    "hex24": "printf('%024x', w)",
    "at": "strftime('%Y-%m-%d %H:%M:%f', :start, '+' || (i * 3) || ' seconds') || '000'",
    "ok": "(i % 10 >= 3)",
    "nl": "char(10)",
    "false": "0",
}
_POSTGRES = {
    "seq": "generate_series(1, %(n)s) AS g(i)",
    "hex24": "lpad(to_hex(w), 24, '0')",
    "at": "CAST(%(start)s AS timestamptz) + i * interval '3 seconds'",
    "ok": "(i %% 10 >= 3)",
    "nl": "chr(10)",
    "false": "false",
}
SELECT = "SELECT * FROM deployment_attempts ORDER BY position DESC"


def fill(store: Store, rows: int) -> float:
    """Fill `deployment_attempts` with `rows` rows; seconds."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    began = time.perf_counter()
    if store.backend == "sqlite":
        assert store.path is not None
        with contextlib.closing(sqlite3.connect(store.path)) as conn, conn:
            sql = _FILL.format(columns=_COLUMNS, **_SQLITE)
            conn.execute(sql, {"n": rows, "start": start.strftime("%Y-%m-%d %H:%M:%S.%f")})
    else:
        with psycopg.connect(store.url) as pg:
            sql = _FILL.replace("%", "%%").format(columns=_COLUMNS, **_POSTGRES)
            pg.execute(sql, {"n": rows, "start": start})
            pg.commit()
            pg.execute("ANALYZE deployment_attempts")
            pg.commit()
    return time.perf_counter() - began


def floor(store: Store) -> tuple[float, int]:
    """The raw read of every row, newest first: seconds, rows (or bytes for COPY)."""
    began = time.perf_counter()
    count = 0
    if store.backend == "sqlite":
        assert store.path is not None
        with contextlib.closing(sqlite3.connect(store.path)) as conn:
            for _ in conn.execute(SELECT):
                count += 1
    else:
        with (
            psycopg.connect(store.url) as pg,
            pg.cursor() as cur,
            cur.copy(f"COPY ({SELECT}) TO STDOUT") as copy,
        ):
            for block in copy:
                count += len(block)
    return time.perf_counter() - began, count


def cli(store: Store, *args: str, count: bool = False) -> tuple[float, float, int]:
    """`deployledger --store URL audit --all ARGS`: seconds, peak RSS in MB, and the lines
    written (when `count`: else stdout goes to /dev/null)."""
    argv = [CLI, "--store", store.url, "audit", "--all", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYLEDGER_")}
    out = subprocess.PIPE if count else subprocess.DEVNULL
    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, env=env)
    lines = 0
    if count:  # the CSV's records, as Python's csv module reads them (header included)
        assert proc.stdout is not None
        lines = sum(1 for _ in csv.reader(io.TextIOWrapper(proc.stdout, newline="")))
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv[3:]} failed: {err.decode(errors='replace')}")
    return seconds, usage.ru_maxrss / 1024, lines


def run(cfg: Config, backend: str, log: Log) -> list[Result]:
    if "export" not in cfg.only:
        return []
    if not Path(CLI).exists():
        found = shutil.which("deployledger")
        raise RuntimeError(f"the deployledger script is not at {CLI} (PATH: {found})")
    n = cfg.export_rows
    with fresh_store(cfg, backend) as store, Ledger.open(store.url, create=True) as ledger:
        ledger.catch_up()  # the read model exists and is caught up (empty event store)
        filled = fill(store, n)
        log(f"[{backend}] export: filled {n:,} attempts in {filled:.1f}s")
        _, _, lines = cli(store, count=True)  # warm-up, and the count
        if lines != n + 1:
            raise RuntimeError(f"exported {lines - 1:,} rows, expected {n:,}")
        floor(store)
        _, empty_rss, _ = cli(store, "--tenant", "nobody")
        csv_s: list[float] = []
        jsonl_s: list[float] = []
        floor_s: list[float] = []
        rss: list[float] = []
        for k in range(cfg.export_runs):
            seconds, peak, _ = cli(store)
            csv_s.append(seconds)
            rss.append(peak - empty_rss)
            floor_s.append(floor(store)[0])
            log(
                f"[{backend}] export run {k + 1}: csv {csv_s[-1]:.1f}s, "
                f"floor {floor_s[-1]:.1f}s, RSS growth {rss[-1]:.0f} MB"
            )
        # JSON Lines: one run (its rows are built as Attempt objects, a chunk at a time).
        seconds, peak, _ = cli(store, "-o", "jsonl")
        jsonl_s.append(seconds)
        rss.append(peak - empty_rss)
        log(f"[{backend}] export jsonl: {seconds:.1f}s, RSS growth {rss[-1]:.0f} MB")
    raw = "raw `COPY ... TO STDOUT`" if backend == "postgres" else "raw sqlite3 cursor loop"
    notes = [
        f"{n:,} rows; {cfg.export_runs} timed runs each after one warm-up; wall time of the "
        f"CLI process (start-up included); the floor is a {raw} in the bench process; "
        f"the table was filled by bulk SQL in {filled:.1f}s (see bench/export.py)",
        f"runs (s): csv {_list(csv_s)}; jsonl {_list(jsonl_s)}; floor {_list(floor_s)}",
    ]
    applies = n >= 1_000_000
    results = [
        Result(
            backend,
            f"`audit --all` (CSV), {n:,} rows: throughput vs {raw}",
            [n / s for s in csv_s],
            [n / s for s in floor_s],
            "{:,.0f} rows/s",
            "≥ 0.5",
            applies=applies,
            notes=notes,
        ),
        Result(
            backend,
            f"`audit --all -o jsonl`, {n:,} rows: throughput vs {raw}",
            [n / s for s in jsonl_s],
            [n / statistics.median(floor_s)],
            "{:,.0f} rows/s",
            "(info)",
            notes=[*notes, "JSON Lines: one run"],
        ),
        Result(
            backend,
            f"`audit --all`, {n:,} rows: peak RSS growth (vs the same command exporting nothing)",
            rss,
            [empty_rss] * len(rss),
            "{:,.0f} MB",
            "< 100 MB",
            applies=applies,
            notes=[f"peak RSS exporting nothing: {empty_rss:.0f} MB; growth per run {_list(rss)}"],
        ),
    ]
    for r in results:
        log(f"[{backend}] {r.measurement}: {r.library_median:,.1f} (ratio {r.ratio:.2f})")
    return results


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)
