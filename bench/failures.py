"""`failures`: `Ledger.failures(since=24h)` and `Ledger.audit(fingerprint=F)` on a store of
1,000,000 attempts against one of 10,000 (`--failures-sizes`), the same fleet (2,000
workloads) and the same rate of deploys (one attempt every 259.2 s, 20% failed across 8
helm errors): the large store only has 100 times the history. Target: a ratio of at most
3, both calls being index-backed (`occurred_at`, `fingerprint`), so the cost follows the
failures asked for, not the history kept.

**How the stores are made.** As in bench/overdue.py: the read model is filled by one bulk
`INSERT ... SELECT` (PostgreSQL `generate_series`, SQLite a recursive CTE) in the library's
own schema, with an empty event store, so the catch-up `Ledger.failures()` runs first finds
nothing. Each failed row carries the category and fingerprint the library derives from its
message (computed here with `deployledger.domain.insights.failures` for each of the 8 shapes, and
checked to be the same for every workload name). `workload_state` gets the 2,000
workloads, one in 10 in state Error. PostgreSQL gets an ANALYZE after the fill.

Timed: each call alternately on both stores in rounds of 10, medians.
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
from bench.report import Result
from bench.stores import Store, fresh_store
from deployledger import Ledger
from deployledger.domain.insights.failures import categorize, fingerprint

Log = Callable[[str], None]
WORKLOADS = 2_000
STEP = 259.2  # seconds between attempts: 10,000 attempts are 30 days
SHAPES = [
    "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
    "Error: UPGRADE FAILED: timed out waiting for the condition",
    'Error: UPGRADE FAILED: cannot patch "{w}" with kind Deployment: field is immutable',
    'Error: UPGRADE FAILED: "{w}" has no deployed releases',
    "Error: INSTALLATION FAILED: Kubernetes cluster unreachable: dial tcp 10.0.0.1:6443",
    "Error: UPGRADE FAILED: pre-upgrade hooks failed: job {w} failed: BackoffLimitExceeded",
    "Pod {w}-7d9f8 container 'app' waiting: ImagePullBackOff",
    "something nobody has seen before on {w}",
]


def _derived() -> list[tuple[str, str, str, str]]:
    """(message before the name, after it, category, fingerprint) of each shape."""
    found = []
    for shape in SHAPES:
        one, two = shape.format(w="svc-1"), shape.format(w="svc-99999")
        if fingerprint(one) != fingerprint(two):
            raise RuntimeError(f"the fingerprint of {shape!r} depends on the name")
        head, _, tail = shape.partition("{w}")
        found.append((head, tail, categorize(one), fingerprint(one)))
    return found


def _fill_sql(backend: str, attempts: int) -> tuple[str, str]:
    shapes = _derived()
    s = "(i / 5) % 8"

    def case(index: int) -> str:
        return (
            "CASE "
            + " ".join(
                f"WHEN {s} = {n} THEN '{d[index].replace(chr(39), chr(39) * 2)}'"
                for n, d in enumerate(shapes)
            )
            + " END"
        )

    name = f"'svc-' || (i % {WORKLOADS})"
    message = f"CASE WHEN i % 5 = 0 THEN {case(0)} || {name} || {case(1)} END"
    if backend == "sqlite":
        seq = (
            "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
            "SELECT i FROM s)"
        )
        stamp = (
            "strftime('%Y-%m-%d %H:%M:%f', :now, '-' || ((:n - i) * {step}) || ' seconds') || '000'"
        )
        rt = "printf('%024x', i % {w})"
        boolean = "(i % 5 != 0)"
    else:
        seq = "generate_series(1, %(n)s) AS g(i)"
        stamp = "CAST(%(now)s AS timestamptz) - ((%(n)s - i) * {step}) * interval '1 second'"
        rt = "lpad(to_hex(i % {w}), 24, '0')"
        boolean = "(i % 5 <> 0)"
    stamp, rt = stamp.format(step=STEP), rt.format(w=WORKLOADS)
    attempts_sql = f"""
INSERT INTO deployment_attempts (position, tenant_id, workload_rt_id, attempt, recorded_at,
  reported_at, occurred_at, success, state, status_message, workload_name, pool_name,
  message_truncated, category, fingerprint)
SELECT i, 'tenant-' || (i % {WORKLOADS} % 8), {rt}, 1 + i / {WORKLOADS}, {stamp}, {stamp},
  {stamp}, {boolean}, CASE WHEN i % 5 = 0 THEN 3 ELSE 2 END, {message}, {name},
  'pool-' || (i % {WORKLOADS} % 4), {"0" if backend == "sqlite" else "false"},
  CASE WHEN i % 5 = 0 THEN {case(2)} END, CASE WHEN i % 5 = 0 THEN {case(3)} END
FROM {seq}
"""
    wseq = seq.replace(":n", str(WORKLOADS)).replace("%(n)s", str(WORKLOADS))
    hex32 = "printf('%032x', i)" if backend == "sqlite" else "lpad(to_hex(i), 32, '0')"
    states_sql = f"""
INSERT INTO workload_state (tenant_id, workload_rt_id, workload_id, workload_name, pool_name,
  state, attempts, failures, consecutive_failures, last_position)
SELECT 'tenant-' || (i % {WORKLOADS} % 8), {rt}, {hex32}, 'svc-' || (i % {WORKLOADS}),
  'pool-' || (i % {WORKLOADS} % 4), CASE WHEN i % 10 = 0 THEN 3 ELSE 2 END, 1, 0, 0, i
FROM {wseq}
"""
    if backend != "sqlite":
        attempts_sql = attempts_sql.replace("%", "%%").replace("%%(n)s", "%(n)s")
        attempts_sql = attempts_sql.replace("%%(now)s", "%(now)s")
    return attempts_sql, states_sql


def fill(store: Store, attempts: int) -> float:
    now = datetime.now(UTC)
    attempts_sql, states_sql = _fill_sql(store.backend, attempts)
    start = time.perf_counter()
    if store.backend == "sqlite":
        with contextlib.closing(sqlite3.connect(store.path)) as conn, conn:
            conn.execute(attempts_sql, {"n": attempts, "now": now.strftime("%Y-%m-%d %H:%M:%S.%f")})
            conn.execute(states_sql)
    else:
        with psycopg.connect(store.url) as pg:
            pg.execute(attempts_sql, {"n": attempts, "now": now})
            pg.execute(states_sql)
            pg.commit()
            pg.execute("ANALYZE deployment_attempts")
            pg.execute("ANALYZE workload_state")
            pg.commit()
    return time.perf_counter() - start


KEY = _derived()[1][3]  # the fingerprint of the wait timeout
QUERIES: dict[str, Callable[[Ledger], Any]] = {
    "`failures(since=24h)`": lambda ledger: ledger.failures(since=timedelta(hours=24)),
    "`failures(since=24h, tenant_id=T)`": lambda ledger: ledger.failures(
        since=timedelta(hours=24), tenant_id="tenant-3"
    ),
    "`audit(fingerprint=F, limit=50)`": lambda ledger: ledger.audit(fingerprint=KEY).items,
}


def run(cfg: Config, backend: str, log: Log) -> list[Result]:
    small_n, large_n = cfg.failures_sizes
    with (
        fresh_store(cfg, backend) as small,
        fresh_store(cfg, backend) as large,
        Ledger.open(small.url, create=True) as on_small,
        Ledger.open(large.url, create=True) as on_large,
    ):
        fills = []
        for store, ledger, n in ((small, on_small, small_n), (large, on_large, large_n)):
            ledger.failures()  # the read model exists and is caught up (empty event store)
            fills.append(fill(store, n))
            log(f"[{backend}] failures: filled {n:,} attempts in {fills[-1]:.1f}s")
        results = []
        for name, query in QUERIES.items():
            found = [
                sum(getattr(g, "attempts", 1) for g in query(ledger))
                for ledger in (on_small, on_large)
            ]
            for _ in range(cfg.warmup):
                query(on_small)
                query(on_large)
            times: tuple[list[float], list[float]] = ([], [])
            while len(times[1]) < cfg.queries:
                for side, ledger in enumerate((on_small, on_large)):
                    for _ in range(min(10, cfg.queries - len(times[side]))):
                        start = time.perf_counter()
                        query(ledger)
                        times[side].append((time.perf_counter() - start) * 1000)
            results.append(
                Result(
                    backend,
                    f"{name}, {large_n:,} vs {small_n:,} attempts (same fleet and rate)",
                    [statistics.median(times[1])],
                    [statistics.median(times[0])],
                    "{:.2f} ms",
                    "≤ 3",
                    notes=[
                        f"failed attempts answered: {found[1]:,} (large) / {found[0]:,} "
                        f"(small); {cfg.queries} timed calls each after {cfg.warmup} warm-up "
                        f"calls; filled by bulk SQL in {fills[0]:.1f}s / {fills[1]:.1f}s "
                        "(see bench/failures.py)"
                    ],
                )
            )
            log(f"[{backend}] {results[-1].measurement}: {results[-1].ratio:.2f}")
    return results
