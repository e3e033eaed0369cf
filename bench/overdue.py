"""`overdue`: the latency of `Ledger.overdue()` on a fleet of 1,000,000 workloads with 100
overdue, against one of 10,000 workloads with 100 overdue (`--overdue-fleet`). Target: at
most 2 (answered by the partial index of open requests, in time proportional to the
overdue set, not the fleet).

**How the stores are made.** Building a million workloads through the library would take
about an hour here, so the read model's `workload_state` table is filled directly with one
bulk `INSERT ... SELECT` (PostgreSQL `generate_series`, SQLite a recursive CTE), in the
library's own schema (the store is created by `Ledger.open(create=True)`), with the
timestamp format the library writes. The event store is left empty, so the read model is
consistent with it: its tracking position (0) is the event store's highest position (0), and
the catch-up that `Ledger.overdue()` runs first finds nothing to apply, as in a live store
with nothing new. The call timed is the public `Ledger.overdue()`, whole: the catch-up check
(two position reads), the query and the `Overdue` objects.

A fleet of N workloads: 100 overdue (requests open for 16 to 115 minutes, spread over the
key space, tenants and pools), 1% in flight (requests open for under 2 minutes: in the
partial index, but not overdue), the rest closed (`requested_at` NULL: 90% Deployed, 8%
Error, 2% Undeployed). PostgreSQL gets an ANALYZE after the fill (what autovacuum does after
a bulk load); SQLite none (the library never runs one).

Timed: `overdue()` (15 minutes), `overdue(tenant_id=T)` and `overdue(pool=P)`, alternately on
both stores in rounds of 10, medians. The SQL the call sent is captured (SQLAlchemy's
`before_cursor_execute`) and explained on the large store: `EXPLAIN QUERY PLAN` (SQLite),
`EXPLAIN (ANALYZE, BUFFERS)` (PostgreSQL).
"""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import Engine, event

from bench import Config
from bench.report import Result
from bench.stores import Store, fresh_store
from deployledger import Ledger, Overdue

Log = Callable[[str], None]
IN_FLIGHT = 100  # one workload in 100 has a request open for under 2 minutes
TENANT, POOL = "tenant-3", "pool-1"
QUERIES_DEFAULT = "`overdue()`"
QUERIES: dict[str, Callable[[Ledger], list[Overdue]]] = {
    "`overdue()`": lambda ledger: ledger.overdue(),
    "`overdue(tenant_id=T)`": lambda ledger: ledger.overdue(tenant_id=TENANT),
    "`overdue(pool=P)`": lambda ledger: ledger.overdue(pool=POOL),
}

_COLUMNS = (
    "tenant_id, workload_rt_id, workload_id, workload_name, pool_name, state, status_message, "
    "attempts, failures, consecutive_failures, last_attempt_at, last_success_at, "
    "last_position, pool_rt_id, workload_type, deployed_chart_name, deployed_chart_version, "
    "pending_chart_name, pending_chart_version, requested_at, request_version, "
    "request_position, values_digest, last_duration"
)
# {seq} yields i = 1..N; {hex24}/{hex32} format i; {ago} is a timestamp `age` seconds before
# the fill's `now`. `age`: seconds the request has been open, NULL for a closed workload.
_FILL = """
INSERT INTO workload_state ({columns})
SELECT
  'tenant-' || ((i / 13) % 8), {hex24}, {hex32}, 'svc-' || i, 'pool-' || ((i / 7) % 4),
  CASE WHEN age IS NOT NULL THEN 1 WHEN i % 50 = 7 THEN 0 WHEN i % 50 < 5 THEN 3 ELSE 2 END,
  CASE WHEN age IS NULL THEN 'Release "svc-' || i || '" has been upgraded. Happy Helming!'
       WHEN i % 2 = 0 THEN 'Pod svc-' || i || '-7d9f8 container ''app'' waiting: ImagePullBackOff'
  END,
  1 + i % 20, i % 3, 0, {last}, {last}, 2 * i, 'poolrt-' || ((i / 7) % 4), 'Application',
  'svc-' || i, '1.2.2',
  CASE WHEN age IS NOT NULL THEN 'svc-' || i END,
  CASE WHEN age IS NOT NULL THEN '1.2.3' END,
  {ago},
  CASE WHEN age IS NOT NULL THEN 40 END,
  CASE WHEN age IS NOT NULL THEN 2 * i END,
  'sha256:' || {hex32} || {hex32},
  42.5
FROM (
  SELECT i, CASE
    WHEN i % {stride} = 0 AND i / {stride} <= {overdue} THEN 960 + (i / {stride}) * 60
    WHEN i % {in_flight} = {in_flight} / 2 THEN (i / {in_flight}) % 120
  END AS age
  FROM {seq}
) AS fleet
"""
_SQLITE = {
    "seq": "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
    "SELECT i FROM s)",
    "hex24": "printf('%024x', i)",
    "hex32": "printf('%032x', i)",
    # SQLAlchemy's SQLite DateTime: 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC, as the library stores)
    "ago": "strftime('%Y-%m-%d %H:%M:%f', :now, '-' || age || ' seconds') || '000'",
    "last": "strftime('%Y-%m-%d %H:%M:%f', :now, '-' || (3600 + i % 86400) || ' seconds') || '000'",
}
_POSTGRES = {
    "seq": "generate_series(1, %(n)s) AS g(i)",
    "hex24": "lpad(to_hex(i), 24, '0')",
    "hex32": "lpad(to_hex(i), 32, '0')",
    "ago": "CAST(%(now)s AS timestamptz) - age * interval '1 second'",
    "last": "CAST(%(now)s AS timestamptz) - (3600 + i %% 86400) * interval '1 second'",
}


def fill(store: Store, workloads: int, overdue: int) -> float:
    """Fill `workload_state` with `workloads` rows, `overdue` of them overdue; seconds."""
    now = datetime.now(UTC)
    parts = {"columns": _COLUMNS, "stride": workloads // overdue, "overdue": overdue}
    parts["in_flight"] = IN_FLIGHT
    start = time.perf_counter()
    if store.backend == "sqlite":
        with contextlib.closing(sqlite3.connect(store.path)) as conn, conn:
            sql = _FILL.format(**parts, **_SQLITE)
            conn.execute(sql, {"n": workloads, "now": now.strftime("%Y-%m-%d %H:%M:%S.%f")})
    else:
        with psycopg.connect(store.url) as pg:
            sql = _FILL.replace("%", "%%").format(**parts, **_POSTGRES)  # psycopg's placeholders
            pg.execute(sql, {"n": workloads, "now": now})
            pg.commit()
            pg.execute("ANALYZE workload_state")
            pg.commit()
    return time.perf_counter() - start


@contextlib.contextmanager
def _captured() -> Iterator[list[tuple[str, Any]]]:
    """Every (statement, parameters) sent by any SQLAlchemy engine meanwhile."""
    sent: list[tuple[str, Any]] = []

    def grab(_c: Any, _cur: Any, statement: str, parameters: Any, _x: Any, _many: bool) -> None:
        sent.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", grab)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", grab)


def explain(store: Store, ledger: Ledger, query: Callable[[Ledger], list[Overdue]]) -> list[str]:
    """The plan of the SQL `query(ledger)` sends, run by the backend's own EXPLAIN."""
    with _captured() as sent:
        query(ledger)
    statement, parameters = next((s, p) for s, p in sent if "requested_at <" in s)
    if store.backend == "sqlite":
        with contextlib.closing(sqlite3.connect(store.path)) as conn:
            plan = conn.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
        lines = [f"{'  ' * _depth(plan, row[1])}{row[3]}" for row in plan]
    else:
        with psycopg.connect(store.url) as conn:
            found = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            lines = [row[0] for row in found.fetchall()]
    sent_sql = " ".join(statement.split())
    where = sent_sql[sent_sql.index(" FROM ") :]
    return [f"SQL sent: SELECT ...{where}", *lines]


def _depth(plan: list[Any], parent: int) -> int:
    ids = {row[0]: row[1] for row in plan}
    depth = 0
    while parent in ids:
        parent, depth = ids[parent], depth + 1
    return depth


def run(cfg: Config, backend: str, log: Log) -> list[Result]:
    small_n, large_n = cfg.overdue_fleet
    with (
        fresh_store(cfg, backend) as small,
        fresh_store(cfg, backend) as large,
        Ledger.open(small.url, create=True) as on_small,
        Ledger.open(large.url, create=True) as on_large,
    ):
        fills = []
        for store, ledger, n in ((small, on_small, small_n), (large, on_large, large_n)):
            ledger.overdue()  # the read model exists and is caught up (empty event store)
            fills.append(fill(store, n, cfg.overdue))
            log(f"[{backend}] overdue: filled {n:,} workloads in {fills[-1]:.1f}s")
        results = []
        for name, query in QUERIES.items():
            plan = explain(large, on_large, query)
            log(f"[{backend}] {name}: plan on {large_n:,} workloads:\n  " + "\n  ".join(plan))
            found = [len(query(on_small)), len(query(on_large))]
            if name == QUERIES_DEFAULT and found != [cfg.overdue, cfg.overdue]:
                raise RuntimeError(f"expected {cfg.overdue} overdue on both, found {found}")
            for _ in range(cfg.warmup):
                query(on_small)
                query(on_large)
            times: tuple[list[float], list[float]] = ([], [])
            while len(times[1]) < cfg.queries:
                for side, ledger in enumerate((on_small, on_large)):
                    for _ in range(min(10, cfg.queries - len(times[side]))):
                        start = time.perf_counter()
                        got = len(query(ledger))
                        times[side].append((time.perf_counter() - start) * 1000)
                        if got != found[side]:
                            raise RuntimeError(f"{name}: {got} rows, then {found[side]}")
            default = name == QUERIES_DEFAULT
            scale = f"{large_n:,} vs {small_n:,} workloads ({cfg.overdue} overdue)"
            results.append(
                Result(
                    backend,
                    f"{name}, {scale if default else 'the same stores'}",
                    [statistics.median(times[1])],
                    [statistics.median(times[0])],
                    "{:.2f} ms",
                    "≤ 2",
                    notes=[
                        f"rows returned {found[1]} (large) / {found[0]} (small); {cfg.queries} "
                        f"timed calls each after {cfg.warmup} warm-up calls; the read model "
                        f"filled by bulk SQL in {fills[0]:.1f}s / {fills[1]:.1f}s (see "
                        "bench/overdue.py)",
                        f"plan on {large_n:,} workloads:",
                        *plan,
                    ],
                )
            )
            log(f"[{backend}] {results[-1].measurement}: {results[-1].ratio:.2f}")
    return results
