"""`log`: the tamper-evident log's cost.

1. **`verify` over 1,000,000 events** (`--log-events`) against the raw floor measured in the
   same run: a raw sqlite3 / psycopg `SELECT` of the same rows (position, id, version,
   topic, state) in position order, plus one SHA-256 per row. Target: verify at no less
   than 50% of the floor's rate (ratio of times at most 2). The store is filled with
   `record_many()` (the read-model suite's report stream), then caught up once, untimed,
   with one checkpoint; each timed `ledger.log.verify()` then recomputes the whole tree from the
   events and checks the checkpoint (nothing new to apply). Runs alternate with the floor.
2. **`record()` latency with the log kept vs not kept** (`--ops` calls per run): two
   stores, the same reports, `record()` timed one call at a time, each run followed by an
   untimed catch-up; in one store the projection runner keeps the log, in the other its
   `keeps_log` switch is off (what deployledger did before the log). Target: at most 1.05.
   The catch-up's throughput with and without the log is shown too, for information:
   the log's real cost is paid there, by the follower, not by `record()`.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import statistics
import time
from collections.abc import Callable

import psycopg

from bench import Config
from bench.data import fleet, stream
from bench.report import Result
from bench.stores import Store, fresh_store
from deployledger import Ledger

Log = Callable[[str], None]
CHUNK = 10_000
WORKLOADS = 5_000


def fill(store: Store, cfg: Config, count: int, log: Log) -> None:
    workloads = fleet(WORKLOADS, cfg.seed)
    log(f"[{store.backend}] log: record {count:,} reports, catch up, checkpoint")
    with Ledger.open(store.url, create=True) as ledger:
        for first in range(0, count, CHUNK):
            ledger.record_many(stream(cfg.seed, workloads, first, min(CHUNK, count - first)))
        ledger.catch_up()
        ledger.log.checkpoint()


def floor(store: Store) -> tuple[float, int]:
    """Seconds to SELECT every event in position order and hash each row once."""
    sha = hashlib.sha256
    rows = 0
    if store.backend == "sqlite":
        with contextlib.closing(sqlite3.connect(store.path)) as conn:
            start = time.perf_counter()
            query = (
                "SELECT rowid, originator_id, originator_version, topic, state "
                "FROM stored_events ORDER BY rowid"
            )
            for row in conn.execute(query):
                sha(row[4]).digest()
                rows += 1
            return time.perf_counter() - start, rows
    with psycopg.connect(store.url) as pg:
        start = time.perf_counter()
        with pg.cursor(name="floor") as cur:
            cur.itersize = 20_000
            cur.execute(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM deployledger_events ORDER BY notification_id"
            )
            for row in cur:
                sha(row[4]).digest()
                rows += 1
        return time.perf_counter() - start, rows


def timed_verify(store: Store) -> float:
    with Ledger.open(store.url) as ledger:
        ledger.catch_up()
        start = time.perf_counter()
        report = ledger.log.verify()
        seconds = time.perf_counter() - start
    if not report.intact or not report.checkpoints:
        raise RuntimeError(f"verify found problems in an untouched store: {report.problems}")
    return seconds


def measure_verify(cfg: Config, backend: str, log: Log) -> list[Result]:
    with fresh_store(cfg, backend) as store:
        fill(store, cfg, cfg.log_events, log)
        ours: list[float] = []
        base: list[float] = []
        events = 0
        timed_verify(store)  # warm the caches of both
        for run in range(cfg.log_runs):
            seconds, events = floor(store)
            base.append(seconds)
            ours.append(timed_verify(store))
            log(f"[{backend}] verify run {run + 1}: {ours[-1]:.2f} s, floor {base[-1]:.2f} s")
    rate = "{:,.0f} events/s"
    return [
        Result(
            backend,
            f"`verify` of {events:,} events: time vs raw SELECT + one SHA-256 per row",
            ours,
            base,
            "{:.2f} s",
            target="≤ 2",
            applies=events >= 1_000_000,
            notes=[
                f"rates: verify {rate.format(events / statistics.median(ours))}, floor "
                f"{rate.format(events / statistics.median(base))}"
            ],
        )
    ]


def _record_run(ledger: Ledger, cfg: Config, first: int, workloads: list) -> tuple[float, float]:  # type: ignore[type-arg]
    reports = list(stream(cfg.seed, workloads, first, cfg.ops))
    times = []
    for item in reports:
        start = time.perf_counter()
        ledger.record(item)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    applied = ledger.catch_up()
    rate = applied / (time.perf_counter() - start) if applied else float("nan")
    return statistics.median(times) * 1e6, rate


def measure_record(cfg: Config, backend: str, log: Log) -> list[Result]:
    workloads = fleet(200, cfg.seed + 1)
    with (
        fresh_store(cfg, backend) as kept,
        fresh_store(cfg, backend) as plain,
        Ledger.open(kept.url, create=True) as with_log,
        Ledger.open(plain.url, create=True) as without_log,
    ):
        without_log._read_model.runner.keeps_log = False  # type: ignore[attr-defined]
        for ledger in (with_log, without_log):  # warm up
            _record_run(ledger, cfg, 0, workloads)
        latency: dict[bool, list[float]] = {True: [], False: []}
        rates: dict[bool, list[float]] = {True: [], False: []}
        for run in range(cfg.runs):
            first = (run + 1) * cfg.ops
            for keeps, ledger in ((True, with_log), (False, without_log)):
                micros, rate = _record_run(ledger, cfg, first, workloads)
                latency[keeps].append(micros)
                rates[keeps].append(rate)
            log(
                f"[{backend}] record run {run + 1}: {latency[True][-1]:.0f} µs with the "
                f"log, {latency[False][-1]:.0f} µs without"
            )
    return [
        Result(
            backend,
            "`record()` median latency, the log kept vs not kept",
            latency[True],
            latency[False],
            "{:,.0f} µs",
            target="≤ 1.05",
        ),
        Result(
            backend,
            "catch-up throughput, the log kept vs not kept (events/s)",
            rates[True],
            rates[False],
            "{:,.0f}",
        ),
    ]


def run(cfg: Config, backend: str, log: Log) -> list[Result]:
    results: list[Result] = []
    if "record-log" in cfg.only:
        results += measure_record(cfg, backend, log)
    if "verify" in cfg.only:
        results += measure_verify(cfg, backend, log)
    return results
