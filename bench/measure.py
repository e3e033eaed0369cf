"""The three measurements. Each run uses fresh stores; floor and library alternate."""

from __future__ import annotations

import contextlib
import gc
import random
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg

from bench.config import HISTORY_TARGET, MANY_TARGET, RECORD_FLOOR_TARGET, Config
from bench.data import (
    ATTEMPT_TOPIC,
    Report,
    batch_reports,
    floor_rows,
    history_reports,
    rt_id,
    short_reports,
)
from bench.outcome import Result, percentile
from bench.stores import Floor, Store, Target, fresh_store, open_floor, stall_watchdog
from deployledger import Ledger

Log = Callable[[str], None]


def _time_each(call: Callable[[Any], object], items: Sequence[Any]) -> list[float]:
    """Microseconds of each call, one after the other."""
    out = []
    clock = time.perf_counter_ns
    for item in items:
        start = clock()
        call(item)
        out.append((clock() - start) / 1_000)
    return out


@contextlib.contextmanager
def _ledger(url: str, *, create: bool | None = True) -> Iterator[Ledger]:
    ledger = Ledger.open(url, create=create)
    try:
        yield ledger
    finally:
        ledger.close()


@contextlib.contextmanager
def _floor(store: Store) -> Iterator[Floor]:
    floor = open_floor(store)
    try:
        yield floor
    finally:
        floor.close()


def _prefill(ledger: Ledger, reports: list[Report], chunk: int) -> None:
    for start in range(0, len(reports), chunk):
        ledger.record_many(reports[start : start + chunk])


def _stored_event_bytes(store: Store) -> float:
    """Average size of the library's stored attempt events (to compare with the floor's)."""
    query = "SELECT avg({}(state)) FROM {} WHERE topic = %s"
    if store.backend == "sqlite":
        with contextlib.closing(sqlite3.connect(store.path)) as conn:
            row = conn.execute(
                query.format("length", "stored_events").replace("%s", "?"), (ATTEMPT_TOPIC,)
            ).fetchone()
    else:
        with psycopg.connect(store.dsn) as conn:
            row = conn.execute(
                query.format("octet_length", "deployledger_events"),  # type: ignore[arg-type]
                (ATTEMPT_TOPIC,),
            ).fetchone()
    return float(row[0]) if row and row[0] is not None else float("nan")


def library_settings(ledger: Ledger) -> dict[str, str]:
    """The durability settings the library's own connections run with (a fairness check).

    Reaches into the library's internals; best effort."""
    try:
        datastore: Any = ledger._store.app.factory.datastore  # type: ignore[attr-defined]
        if ledger.url.is_postgres:
            with datastore.get_connection() as conn:
                row = conn.execute("SHOW synchronous_commit").fetchone()
                return {"synchronous_commit": str(next(iter(row.values())))}
        with datastore.transaction(commit=False) as cur:
            cur.execute("PRAGMA journal_mode")
            mode = cur.fetchone()[0]
            cur.execute("PRAGMA synchronous")
            sync = cur.fetchone()[0]
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return {"journal_mode": str(mode), "synchronous": names.get(sync, str(sync))}
    except Exception as e:  # pragma: no cover - diagnostics only
        return {"error": f"{type(e).__name__}: {e}"}


# -- 1. record() vs a single-row INSERT + COMMIT -----------------------------------------


def measure_record(target: Target, cfg: Config, log: Log, info: dict[str, Any]) -> Result:
    rng = random.Random(1)
    tenant, rtid = "acme-prod", rt_id(rng)
    prior = short_reports(tenant, rtid, cfg.small_prior, rng)
    timed = short_reports(tenant, rtid, cfg.warmup + cfg.ops, rng)
    rows = floor_rows(prior + timed)
    prior_rows, timed_rows = rows[: len(prior)], rows[len(prior) :]
    library: list[float] = []
    floor: list[float] = []
    lib_p50: list[float] = []
    floor_p50: list[float] = []
    lib_ops: list[float] = []
    floor_ops: list[float] = []
    sizes: dict[str, float] = {}

    for run in range(cfg.runs):
        # Both stores are fresh; floor and library alternate op by op (who goes first
        # alternates per run), so that disk and CPU noise from the machine hits both alike.
        with (
            fresh_store(target) as floor_store,
            fresh_store(target) as lib_store,
            _floor(floor_store) as f,
            _ledger(lib_store.url) as ledger,
        ):
            f.insert_many(prior_rows)
            ledger.record_many(prior)
            for row, report in zip(timed_rows[: cfg.warmup], timed[: cfg.warmup], strict=True):
                f.insert_one(row)
                ledger.record(report)
            gc.collect()
            ops: dict[str, list[float]] = {"floor": [], "library": []}
            for i in range(cfg.warmup, cfg.warmup + cfg.ops):
                order = ("floor", "library") if (run + i) % 2 == 0 else ("library", "floor")
                for who in order:
                    if who == "floor":
                        ops[who] += _time_each(f.insert_one, [timed_rows[i]])
                    else:
                        ops[who] += _time_each(ledger.record, [timed[i]])
            info.setdefault("floor_settings", f.settings())
            info.setdefault("library_settings", library_settings(ledger))
            if not sizes:
                sizes["library"] = _stored_event_bytes(lib_store)
        library.append(statistics.fmean(ops["library"]))
        floor.append(statistics.fmean(ops["floor"]))
        lib_p50.append(statistics.median(ops["library"]))
        floor_p50.append(statistics.median(ops["floor"]))
        lib_ops += ops["library"]
        floor_ops += ops["floor"]
        log(
            f"[{target.backend}] record(): run {run + 1}/{cfg.runs}: "
            f"library {library[-1]:.0f} µs/op, floor {floor[-1]:.0f} µs/op (means)"
        )
    floor_bytes = statistics.fmean(len(r[3]) for r in timed_rows)
    result = Result(
        backend=target.backend,
        measurement=f"record() latency, {cfg.small_prior} prior attempts (µs/op)",
        unit="µs/op",
        library=library,
        floor=floor,
        target=RECORD_FLOOR_TARGET,
        higher_is_better=False,
        floor_label="single-row INSERT+COMMIT",
    )
    p50_ratio = statistics.median(lib_p50) / statistics.median(floor_p50)
    result.notes += [
        f"{cfg.ops} sequential calls each per run after {cfg.warmup} warm-up calls, floor and "
        "library alternating op by op; value = mean µs/op of the run, median over runs",
        f"with the run's median op instead of its mean: library "
        f"{statistics.median(lib_p50):.0f} µs, floor {statistics.median(floor_p50):.0f} µs, "
        f"ratio {p50_ratio:.2f}",
        f"all ops pooled: library p50 {percentile(lib_ops, 50):.0f} / p99 "
        f"{percentile(lib_ops, 99):.0f} µs; floor p50 {percentile(floor_ops, 50):.0f} / p99 "
        f"{percentile(floor_ops, 99):.0f} µs",
        f"stored event size: library {sizes.get('library', float('nan')):.0f} B, "
        f"floor row {floor_bytes:.0f} B",
    ]
    return result


# -- 2. record() with 10,000 prior attempts vs 10 ------------------------------------------


def measure_history(
    target: Target, cfg: Config, log: Log, info: dict[str, Any]
) -> tuple[Result, Result]:
    rng = random.Random(2)
    small = ("acme-prod", rt_id(rng))
    large = ("globex", rt_id(rng))
    primer = ("initech", rt_id(rng))
    small_prior = history_reports(*small, cfg.small_prior, rng)
    large_prior = history_reports(*large, cfg.large_prior, rng)
    count = cfg.warmup + cfg.ops + cfg.cold_samples
    timed = {"small": short_reports(*small, count, rng), "large": short_reports(*large, count, rng)}
    primers = short_reports(*primer, 2 * cfg.cold_samples, rng)
    warm: dict[str, list[float]] = {"small": [], "large": []}
    cold: dict[str, list[float]] = {"small": [], "large": []}
    warm_ops: dict[str, list[float]] = {"small": [], "large": []}
    cold_ops: dict[str, list[float]] = {"small": [], "large": []}
    prefill_s: list[float] = []

    for run in range(cfg.runs):
        order = ("small", "large") if run % 2 == 0 else ("large", "small")
        with fresh_store(target) as store:
            with _ledger(store.url) as ledger:
                start = time.perf_counter()
                _prefill(ledger, small_prior, cfg.prefill_chunk)
                _prefill(ledger, large_prior, cfg.prefill_chunk)
                prefill_s.append(time.perf_counter() - start)
                assert ledger.current(*large) is not None
                for i in range(cfg.warmup):
                    for which in order:
                        ledger.record(timed[which][i])
                gc.collect()
                ops: dict[str, list[float]] = {"small": [], "large": []}
                # Interleave op by op, so that noise hits both workloads alike.
                for i in range(cfg.warmup, cfg.warmup + cfg.ops):
                    for which in order if i % 2 == 0 else order[::-1]:
                        ops[which] += _time_each(ledger.record, [timed[which][i]])
            for which in order:
                warm[which].append(statistics.fmean(ops[which]))
                warm_ops[which] += ops[which]
            # Cold: a freshly opened ledger (empty cache; PostgreSQL opens as a worker,
            # with table creation off). A first record() on another workload opens the
            # connection, so the timed call pays for the load, not for connecting.
            samples: dict[str, list[float]] = {"small": [], "large": []}
            for s in range(cfg.cold_samples):
                for k, which in enumerate(order if s % 2 == 0 else order[::-1]):
                    with _ledger(store.url, create=None) as fresh:
                        fresh.record(primers[2 * s + k])
                        report = timed[which][cfg.warmup + cfg.ops + s]
                        samples[which] += _time_each(fresh.record, [report])
            for which in order:
                cold[which].append(statistics.median(samples[which]))
                cold_ops[which] += samples[which]
        log(
            f"[{target.backend}] history: run {run + 1}/{cfg.runs}: warm "
            f"{warm['large'][-1]:.0f} vs {warm['small'][-1]:.0f} µs/op, cold "
            f"{cold['large'][-1]:.0f} vs {cold['small'][-1]:.0f} µs "
            f"(prefill {prefill_s[-1]:.1f} s)"
        )
    label = f"{cfg.large_prior:,} vs {cfg.small_prior} prior attempts"
    results = []
    for kind, values, pooled in (("warm", warm, warm_ops), ("cold", cold, cold_ops)):
        result = Result(
            backend=target.backend,
            measurement=f"record() {kind}, {label} (µs/op)",
            unit="µs/op",
            library=values["large"],
            floor=values["small"],
            target=HISTORY_TARGET,
            higher_is_better=False,
            library_label=f"{cfg.large_prior:,} prior",
            floor_label=f"{cfg.small_prior} prior",
        )
        result.notes.append(
            f"pooled: {cfg.large_prior:,} prior p50 {percentile(pooled['large'], 50):.0f} / "
            f"p99 {percentile(pooled['large'], 99):.0f} µs; {cfg.small_prior} prior p50 "
            f"{percentile(pooled['small'], 50):.0f} / p99 {percentile(pooled['small'], 99):.0f} µs"
        )
        results.append(result)
    results[0].notes.insert(
        0,
        f"warm: same ledger that prefilled both workloads (record_many in chunks of "
        f"{cfg.prefill_chunk:,}, each report with a distinct messageId); {cfg.ops} calls per "
        "workload per run, interleaved; value = mean µs/op of the run",
    )
    results[1].notes.insert(
        0,
        f"cold: {cfg.cold_samples} freshly opened ledgers per workload per run, first record() "
        "on the workload after one record() on another; value = median of the run's samples",
    )
    results[0].notes.append(f"prefill took {statistics.median(prefill_s):.1f} s per run (median)")
    return results[0], results[1]


# -- 3. record_many() of 100,000 reports vs executemany ------------------------------------


def measure_many(
    target: Target, cfg: Config, log: Log, info: dict[str, Any]
) -> tuple[Result, Result]:
    rng = random.Random(3)
    reports = batch_reports(cfg.many, cfg.per_workload, rng)
    rows = floor_rows(reports)
    chunks = [reports[i : i + cfg.many_chunk] for i in range(0, len(reports), cfg.many_chunk)]
    floor: list[float] = []
    single: list[float | None] = []
    chunked: list[float | None] = []
    failures: dict[str, list[str]] = {"single": [], "chunked": []}

    def run_floor() -> None:
        with (
            fresh_store(target) as store,
            _floor(store) as f,
            stall_watchdog(store, target) as fired,
        ):
            gc.collect()
            start = time.perf_counter()
            try:
                f.insert_many(rows)
            except Exception as e:
                raise RuntimeError(f"the executemany floor failed: {fired or e}") from e
            floor.append(len(rows) / (time.perf_counter() - start))

    def run_library(batches: list[list[Report]], out: list[float | None], key: str) -> None:
        with fresh_store(target) as store:
            receipts = []
            try:
                with _ledger(store.url) as ledger, stall_watchdog(store, target) as fired:
                    gc.collect()
                    start = time.perf_counter()
                    for batch in batches:
                        receipts += ledger.record_many(batch)
                    elapsed = time.perf_counter() - start
            except Exception as e:
                if not fired:
                    raise
                out.append(None)
                failures[key].append(f"run {len(out)}: {fired[0]} ({type(e).__name__})")
                return
        out.append(len(reports) / elapsed)
        assert len(receipts) == len(reports)
        assert max(r.attempt for r in receipts) == cfg.per_workload
        assert not any(r.duplicate for r in receipts)

    steps: list[Callable[[], None]] = [
        run_floor,
        lambda: run_library([reports], single, "single"),
        lambda: run_library(chunks, chunked, "chunked"),
    ]
    for run in range(cfg.many_runs):
        shift = run % len(steps)
        for step in steps[shift:] + steps[:shift]:
            step()

        def show(value: float | None) -> str:
            return "FAILED" if value is None else f"{value:,.0f}"

        log(
            f"[{target.backend}] record_many(): run {run + 1}/{cfg.many_runs}: library "
            f"{show(single[-1])} reports/s (one call), {show(chunked[-1])} reports/s "
            f"({len(chunks)} calls), floor {floor[-1]:,.0f} rows/s"
        )
    sizes = [len(r["statusMessage"].encode()) for r in reports]
    fails = sum(1 for r in reports if not r["success"])
    main = Result(
        backend=target.backend,
        measurement=f"record_many() of {cfg.many:,} reports, one call (reports/s)",
        unit="reports/s",
        library=single,
        floor=floor,
        target=MANY_TARGET,
        higher_is_better=True,
        floor_label="executemany, one transaction",
        failures=failures["single"],
    )
    main.notes += [
        f"{len(reports) // cfg.per_workload:,} new workloads x {cfg.per_workload} reports, "
        f"{fails / len(reports):.0%} failures, messages {min(sizes)}-{max(sizes)} B "
        f"(mean {statistics.fmean(sizes):.0f} B), each with a messageId",
        "library input: wire dicts (parsed and validated inside record_many); floor input: "
        "pre-built row tuples holding the same event JSON",
    ]
    extra = Result(
        backend=target.backend,
        measurement=(
            f"record_many() of {cfg.many:,} reports in {len(chunks)} calls of "
            f"{cfg.many_chunk:,} (reports/s)"
        ),
        unit="reports/s",
        library=chunked,
        floor=floor,
        target=None,
        higher_is_better=True,
        library_label=f"deployledger, {len(chunks)} calls",
        floor_label="executemany, one transaction",
        failures=failures["chunked"],
    )
    extra.notes.append(
        "for information: the same reports in smaller transactions (not all-or-nothing), "
        "to show what the library reaches without one huge write"
    )
    return main, extra
