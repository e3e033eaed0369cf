"""Benchmarks of deployledger: `python -m bench [writes|readmodel|all]` (`make bench`).

Every figure is a median over runs, compared as a ratio with a baseline measured in the same
run (a raw sqlite3 / psycopg floor, or the same call on a small store): the machine is shared
and noisy, so only ratios meet the targets. Suites: `writes`, `readmodel`, `http` (`deployledger
serve`; with `burst`, serve against the floor service of `floor` and against raw concurrent
commits); shared modules: `data` (the report generator), `baselines` (the raw floors), `stores`
(scratch SQLite files and PostgreSQL databases), `report` (medians, ratios, the README's tables).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
MEASUREMENTS = (
    "record",
    "history",
    "many",
    "import",
    "record-lifecycle",
    "rebuild",
    "rebuild-mixed",
    "queries",
    "overdue",
    "asof",
    "failures",
    "http",
    "http-floor",
    "http-burst",
    "export",
    "record-log",
    "verify",
)
# Asked for by name only (`--only`), never part of a full run.
EXTRA_MEASUREMENTS = ("rebuild-foldcheck",)


@dataclass(frozen=True)
class Config:
    """Sizes of one run; `quick()` is a smoke run of a minute or two."""

    backends: tuple[str, ...] = ("sqlite", "postgres")
    postgres: str = DEFAULT_POSTGRES  # server URL; scratch databases are made there
    tmpdir: str | None = None  # where SQLite files go
    only: tuple[str, ...] = MEASUREMENTS
    seed: int = 3
    runs: int = 5  # runs of record() / history, and of rebuilds below 500,000 events
    slow_runs: int = 3  # runs of record_many(), and of rebuilds from 500,000 events
    ops: int = 300  # timed record() calls per run
    warmup: int = 20  # untimed calls (record() or queries) before timing
    small_prior: int = 10  # prior attempts of the short history
    large_prior: int = 10_000  # prior attempts of the long history
    cold_samples: int = 10  # freshly opened ledgers per workload and run
    many: int = 100_000  # reports in one record_many() call
    per_workload: int = 100  # reports per workload in that batch
    many_chunk: int = 2_000  # reports per call in its chunked variant
    imports: int = 200_000  # reports in the file `deployledger record` imports (peak RSS)
    sizes: tuple[int, ...] = (100_000, 1_000_000)  # events in the rebuilt stores
    query_small: int = 10_000  # attempts in the small store of the query scaling
    queries: int = 200  # timed calls per query and store
    overdue_fleet: tuple[int, int] = (10_000, 1_000_000)  # workloads, small and large store
    overdue: int = 100  # overdue workloads in each
    asof_sizes: tuple[int, int] = (10_000, 1_000_000)  # history rows, small and large store
    asof_workloads: int = 2_000  # workloads of both as-of stores
    failures_sizes: tuple[int, int] = (10_000, 1_000_000)  # attempts, small and large store
    export_rows: int = 1_000_000  # matching attempts `audit --all` exports
    export_runs: int = 3  # timed runs of each export and of its floor
    log_events: int = 1_000_000  # reports in the store `verify` checks
    log_runs: int = 3  # timed runs of verify and of its floor
    burst: int = 20_000  # single-report POSTs of the 32-client burst (`http-burst`)
    http_workers: tuple[int, ...] = (1, 2, 4)  # `serve --workers N` of the requests/s rows
    client_processes: int = 2  # client processes of the requests/s load
    client_threads: int = 8  # keep-alive connections (threads) per client process
    rps_seconds: float = 5.0  # seconds counted per requests/s measurement
    rps_warm: float = 1.0  # seconds of the same load before they are counted
    budget: float = 3_000.0  # seconds for the read-model suite; larger sizes are skipped
    quick: bool = False

    @classmethod
    def quick_config(cls) -> Config:
        return cls(
            runs=2,
            slow_runs=2,
            ops=60,
            warmup=5,
            large_prior=2_000,
            cold_samples=3,
            many=10_000,
            imports=20_000,
            sizes=(5_000, 20_000),
            query_small=5_000,
            queries=30,
            overdue_fleet=(2_000, 50_000),
            asof_sizes=(4_000, 40_000),
            asof_workloads=400,
            failures_sizes=(10_000, 50_000),
            export_rows=20_000,
            export_runs=2,
            log_events=10_000,
            log_runs=2,
            burst=2_000,
            rps_seconds=1.0,
            rps_warm=0.3,
            quick=True,
        )
