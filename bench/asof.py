"""`asof`: the latency of `status --at T --pool P` (`Ledger.workloads(pool_name=P, at=T)`) on
a read model of 1,000,000 attempts against one of 10,000 (`--asof-sizes`), with the same
workloads in the pool: only their history is longer (500 attempts each instead of 5).
Target: at most 3 (one index seek per candidate workload, whatever its history).

**How the stores are made.** As in `bench.overdue`: the read model is filled directly by
bulk SQL (PostgreSQL `generate_series`, SQLite a recursive CTE), in the library's own
schema (made by `Ledger.open(create=True)`, so every index is there during the fill), with
the timestamp format the library writes; the event store stays empty, so the catch-up that
`workloads()` runs first finds nothing to apply. Filled: `workload_history` (one row per
attempt: the state after it), `workload_pools` and `workload_state`; the
`deployment_attempts` rows are not, as no as-of query reads them.

A fleet of 2,000 workloads (`--asof-workloads`) over 8 tenants and 4 pools; N attempts are
N / 2,000 per workload, spread evenly over 30 days, interleaved by position; one in five
fails. One workload in ten moves to the next pool a quarter of the way through, so that the
pool's candidates (every workload ever in it) outnumber its members at T and the as-of
filter on the pool does work. T is the middle of the 30 days. PostgreSQL gets an ANALYZE
after the fill (what autovacuum does after a bulk load); SQLite none.

Timed: `workloads(pool_name=P, at=T)` (the target), `workloads(tenant_id=T, at=T)` and
`current(tenant, rt, at=T)`, alternately on both stores in rounds of 10, `slow_runs` runs
of `queries` calls each; a run's figure is its median, the row's the median of the runs.
The SQL sent is explained on the large store.
"""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bench import Config
from bench.overdue import _captured, _depth
from bench.report import Result
from bench.stores import Store, fresh_store
from deployledger import Ledger

Log = Callable[[str], None]
BASE = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = 30 * 86400  # seconds the history covers
AT = BASE + timedelta(seconds=SPAN // 2)
POOL, TENANT = "pool-1", "tenant-3"
TARGET = "`status --at T --pool P`"
QUERIES: dict[str, Callable[[Ledger], list[Any]]] = {
    TARGET: lambda ledger: ledger.workloads(pool_name=POOL, at=AT),
    "`status --at T --tenant T`": lambda ledger: ledger.workloads(tenant_id=TENANT, at=AT),
    "`show T R --at T`": lambda ledger: [ledger.current(TENANT, f"{3:024x}", at=AT)],
}

# {seq} yields n = 0..rows-1: workload i = n % W, its k-th attempt k = n / W.
_HISTORY = """
INSERT INTO workload_history (position, tenant_id, workload_rt_id, effective_at,
  workload_name, pool_name, state, status_message, attempts, failures,
  consecutive_failures, last_attempt_at, pool_rt_id, workload_type)
SELECT n + 1, 'tenant-' || (i % 8), {hex24}, {stamp}, 'svc-' || i,
  'pool-' || ((i + CASE WHEN i % 10 = 0 AND k * {step} >= {quarter} THEN 1 ELSE 0 END) % 4),
  CASE WHEN (i + k) % 5 = 0 THEN 3 ELSE 2 END,
  CASE WHEN (i + k) % 5 = 0 THEN 'Error: UPGRADE FAILED: context deadline exceeded'
       ELSE 'Release "svc-' || i || '" has been upgraded. Happy Helming!' END,
  k + 1, (k + 1 + i % 5) / 5, CASE WHEN (i + k) % 5 = 0 THEN 1 ELSE 0 END, {stamp},
  NULL, 'Application'
FROM (SELECT n, n % {w} AS i, n / {w} AS k, (n / {w}) * {step} + (n % {w}) % 60 AS s
      FROM {seq}) AS h
"""
_POOLS = """
INSERT INTO workload_pools (pool, tenant_id, workload_rt_id)
SELECT DISTINCT pool_name, tenant_id, workload_rt_id FROM workload_history
"""
_STATE = """
INSERT INTO workload_state (tenant_id, workload_rt_id, workload_id, workload_name, pool_name,
  state, status_message, attempts, failures, consecutive_failures, last_attempt_at,
  last_position, workload_type, effective_at)
SELECT tenant_id, workload_rt_id, {hex32}, workload_name, pool_name, state, status_message,
  attempts, failures, consecutive_failures, last_attempt_at, position, workload_type,
  effective_at
FROM workload_history WHERE position > :last_round
"""
_SQLITE = {
    "seq": "(WITH RECURSIVE q(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM q WHERE n < :rows - 1)"
    " SELECT n FROM q)",
    "hex24": "printf('%024x', i)",
    "hex32": "printf('%032x', position)",
    # SQLAlchemy's SQLite DateTime: 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC, as the library stores)
    "stamp": "strftime('%Y-%m-%d %H:%M:%f', :base, '+' || s || ' seconds') || '000'",
}
_POSTGRES = {
    "seq": "generate_series(0, %(rows)s - 1) AS g(n)",
    "hex24": "lpad(to_hex(i), 24, '0')",
    "hex32": "lpad(to_hex(position), 32, '0')",
    "stamp": "CAST(%(base)s AS timestamptz) + s * interval '1 second'",
}


def fill(store: Store, rows: int, workloads: int) -> float:
    """Fill the read model with `rows` history rows over `workloads` workloads; seconds."""
    per = rows // workloads
    parts = {"w": workloads, "step": SPAN // per, "quarter": SPAN // 4}
    last_round = (per - 1) * workloads
    start = time.perf_counter()
    if store.backend == "sqlite":
        with contextlib.closing(sqlite3.connect(store.path)) as conn, conn:
            conn.execute(
                _HISTORY.format(**parts, **_SQLITE),
                {"rows": per * workloads, "base": BASE.strftime("%Y-%m-%d %H:%M:%S")},
            )
            conn.execute(_POOLS)
            conn.execute(_STATE.format(**_SQLITE), {"last_round": last_round})
    else:
        with psycopg.connect(store.url) as pg:
            history = _HISTORY.replace("%", "%%").format(**parts, **_POSTGRES)
            pg.execute(history, {"rows": per * workloads, "base": BASE})
            pg.execute(_POOLS)
            state = _STATE.format(**_POSTGRES).replace(":last_round", "%(last_round)s")
            pg.execute(state, {"last_round": last_round})
            pg.commit()
            for table in ("workload_history", "workload_pools", "workload_state"):
                pg.execute(f"ANALYZE {table}")
            pg.commit()
    return time.perf_counter() - start


def explain(store: Store, ledger: Ledger, query: Callable[[Ledger], list[Any]]) -> list[str]:
    """The plan of the SQL `query(ledger)` sends, run by the backend's own EXPLAIN."""
    with _captured() as sent:
        query(ledger)
    statement, parameters = next((s, p) for s, p in sent if "workload_history" in s)
    if store.backend == "sqlite":
        with contextlib.closing(sqlite3.connect(store.path)) as conn:
            plan = conn.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
        lines = [f"{'  ' * _depth(plan, row[1])}{row[3]}" for row in plan]
    else:
        with psycopg.connect(store.url) as conn:
            found = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            lines = [row[0] for row in found.fetchall()]
    return [f"SQL sent: {' '.join(statement.split())}", *lines]


def _timed(query: Callable[[Ledger], list[Any]], ledger: Ledger, expected: int) -> float:
    start = time.perf_counter()
    got = len(query(ledger))
    elapsed = (time.perf_counter() - start) * 1000
    if got != expected:
        raise RuntimeError(f"{got} rows, then {expected}")
    return elapsed


def run(cfg: Config, backend: str, log: Log) -> list[Result]:
    small_n, large_n = cfg.asof_sizes
    with (
        fresh_store(cfg, backend) as small,
        fresh_store(cfg, backend) as large,
        Ledger.open(small.url, create=True) as on_small,
        Ledger.open(large.url, create=True) as on_large,
    ):
        fills = []
        for store, ledger, n in ((small, on_small, small_n), (large, on_large, large_n)):
            ledger.workloads()  # the read model exists and is caught up (empty event store)
            fills.append(fill(store, n, cfg.asof_workloads))
            log(f"[{backend}] asof: filled {n:,} history rows in {fills[-1]:.1f}s")
        results = []
        for name, query in QUERIES.items():
            plan = explain(large, on_large, query)
            log(f"[{backend}] {name}: plan on {large_n:,} attempts:\n  " + "\n  ".join(plan))
            found = [len(query(on_small)), len(query(on_large))]
            if found[0] != found[1] or not found[0]:
                raise RuntimeError(f"{name}: {found[0]} rows on the small store, {found[1]} large")
            for _ in range(cfg.warmup):
                query(on_small)
                query(on_large)
            runs: tuple[list[float], list[float]] = ([], [])
            for _ in range(cfg.slow_runs):
                times: tuple[list[float], list[float]] = ([], [])
                while len(times[1]) < cfg.queries:
                    for side, ledger in enumerate((on_small, on_large)):
                        for _ in range(min(10, cfg.queries - len(times[side]))):
                            times[side].append(_timed(query, ledger, found[side]))
                for side in (0, 1):
                    runs[side].append(statistics.median(times[side]))
            per = (small_n // cfg.asof_workloads, large_n // cfg.asof_workloads)
            scale = (
                f"{large_n:,} vs {small_n:,} attempts ({cfg.asof_workloads:,} workloads, "
                f"{per[1]} vs {per[0]} attempts each)"
            )
            results.append(
                Result(
                    backend,
                    f"{name}, {scale if name == TARGET else 'the same stores'}",
                    runs[1],
                    runs[0],
                    "{:.2f} ms",
                    "≤ 3" if name == TARGET else "(info)",
                    notes=[
                        f"rows returned {found[1]}; {cfg.slow_runs} runs of {cfg.queries} timed "
                        f"calls on each store after {cfg.warmup} warm-up calls; run medians "
                        f"{', '.join(f'{v:.2f}' for v in runs[1])} ms (large) / "
                        f"{', '.join(f'{v:.2f}' for v in runs[0])} ms (small); the read model "
                        f"filled by bulk SQL in {fills[0]:.1f}s / {fills[1]:.1f}s (see "
                        "bench/asof.py)",
                        f"plan on {large_n:,} attempts:",
                        *plan,
                    ],
                )
            )
            log(f"[{backend}] {results[-1].measurement}: {results[-1].ratio:.2f}")
    return results
