"""Read-model benchmarks, against baselines measured in the same runs:

1. rebuild rate: events per second of `ledger.rebuild()` at 100,000 and 1,000,000 events, vs
   the raw floor on the same store (`baselines.rebuild_floor`: select every stored event,
   bulk-insert the same rows; rate = events / (select + insert seconds)). Target >= 0.5.
2. memory: every rebuild runs in a fresh process, which opens the ledger, takes its idle RSS
   (VmRSS), resets the peak (`/proc/self/clear_refs`), rebuilds and reports the peak (VmHWM).
   Growth = peak - idle, median over the runs at the largest size. Target < 150 MB.
3. query scaling: with both read models caught up first (untimed), the median latency of
   audit(tenant, failed, limit 50), audit(tenant, workload, limit 50) and history(limit 50)
   on the largest store against one of 10,000 attempts, timed alternately in rounds of 10.
   Target: large / small <= 2.
4. `rebuild-mixed`: at each size, a second store of the same number of events made of the
   whole lifecycle (`data.lifecycle_stream`: each deploy a request, 1-2 progress messages and
   an outcome), rebuilt in the same runs as the store of outcomes only (who goes first
   alternates), each against its own floor. Target: the lifecycle store's rate / floor is at
   least 0.8 of the outcome store's rate / floor.
5. `overdue`: `Ledger.overdue()` at 1,000,000 vs 10,000 workloads (see `bench.overdue`).
6. `asof`: `status --at T --pool P` at 1,000,000 vs 10,000 attempts (see `bench.asof`).
7. `failures`: `Ledger.failures(since=24h)` and `audit(fingerprint=F)` at 1,000,000 vs 10,000
   attempts (see `bench.failures`).
8. `rebuild-foldcheck` (asked for by name only): each run rebuilds the store of outcomes once
   more, without the rebuild's fold check (`store/rebuild/foldcheck.py`; a private switch of
   that module, set in the child only), after the rebuild with it or (odd runs) before; the
   row is the median rebuild time with the check against the median without.

Data: 1,000 workloads (`data.stream`), one of them hot (1% of the reports, so that it has
50 attempts at 10,000); a store of N events holds N - 1,000 reports (the first 1,000 events
register the workloads). `--budget` bounds the suite: a larger size whose prefill and one run
would not fit is skipped, and extra runs are cut; either is said in the details.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import Config, asof, failures, overdue
from bench.baselines import rebuild_floor
from bench.data import Workload, fleet, lifecycle_stream, stream
from bench.report import ROOT, Result
from bench.stores import Store, fresh_store
from deployledger import Ledger

Log = Callable[[str], None]
WORKLOADS = 1_000
CHUNK = 10_000  # reports per record_many() of the prefill
LARGE = 500_000  # sizes from here on run `slow_runs` times
QUERIES: dict[str, Callable[[Ledger, Workload], list[Any]]] = {
    "`audit --tenant T --failed --limit 50`": lambda ledger, w: (
        ledger.audit(tenant_id=w.tenant, success=False, limit=50).items
    ),
    "a workload's latest 50 attempts (`audit --tenant T --rt-id R`)": lambda ledger, w: (
        ledger.audit(tenant_id=w.tenant, workload_rt_id=w.rt_id, limit=50).items
    ),
    "`history(T, R, limit=50)`": lambda ledger, w: ledger.history(w.tenant, w.rt_id, limit=50),
}


@dataclass(frozen=True)
class Rebuild:
    events: int
    seconds: float
    idle_kb: int
    peak_kb: int
    cpu_seconds: float = 0.0  # the rebuilding process's own (user + system)


# A store in the rebuild runs: the store, its events, each run's floor and rebuild.
_StoreRuns = tuple[Store, int, list[tuple[float, float]], list[Rebuild]]


def prefill(store: Store, cfg: Config, count: int, log: Log) -> float:
    """Record reports [0, count) of the stream with record_many(); return the seconds."""
    workloads = fleet(WORKLOADS, cfg.seed)
    log(f"[{store.backend}] prefill {count:,} reports ({count + WORKLOADS:,} events)")
    start = time.perf_counter()
    with Ledger.open(store.url, create=True) as ledger:
        for first in range(0, count, CHUNK):
            ledger.record_many(stream(cfg.seed, workloads, first, min(CHUNK, count - first)))
    return time.perf_counter() - start


def rebuild_in_child(store: Store, timeout: float, *, check: bool = True) -> Rebuild:
    code = "from bench.readmodel import rebuild_child; rebuild_child()"
    out = subprocess.run(
        [sys.executable, "-c", code, store.url, *([] if check else ["--no-foldcheck"])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"rebuild child failed:\n{out.stderr[-3000:]}")
    return Rebuild(**json.loads(out.stdout.strip().splitlines()[-1]))


def rebuild_child() -> None:
    if "--no-foldcheck" in sys.argv[2:]:  # the cost of the check, measured: never a setting
        from deployledger.store.rebuild import foldcheck

        foldcheck._ENABLED = False
    with Ledger.open(sys.argv[1]) as ledger:
        ledger.max_position()
        ledger.read_position()  # the read-model engine is connected too
        gc.collect()
        idle = _status_kb("VmRSS")
        with contextlib.suppress(OSError):  # VmHWM := VmRSS (Linux >= 4.0): peak is the rebuild's
            Path("/proc/self/clear_refs").write_text("5")
        start, cpu = time.perf_counter(), time.process_time()
        events = ledger.rebuild().events
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = _status_kb("VmHWM")
    print(
        json.dumps(
            {
                "events": events,
                "seconds": seconds,
                "idle_kb": idle,
                "peak_kb": peak,
                "cpu_seconds": cpu,
            }
        )
    )


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: KiB


def _short(n: int) -> str:
    """1,000,000 or 999,000 -> "1M", 10,000 -> "10k"."""
    r = float(f"{n:.2g}")
    return f"{r / 1e6:g}M" if r >= 1e6 else f"{r / 1e3:g}k" if r >= 1e3 else f"{r:g}"


def run(cfg: Config, backend: str, log: Log, deadline: float) -> list[Result]:
    first = backend == cfg.backends[0]
    results: list[Result] = []
    notes: list[str] = []
    last: list[Rebuild] = []  # the rebuilds of the largest size measured
    estimate = 0.0  # seconds per event of a prefill and one run, from the last size
    mixed = "rebuild-mixed" in cfg.only
    checked = "rebuild-foldcheck" in cfg.only
    rebuilds = "rebuild" in cfg.only or mixed or checked
    sizes = cfg.sizes if rebuilds else cfg.sizes[-1:] if "queries" in cfg.only else ()
    with contextlib.ExitStack() as stack:
        small = None
        if "queries" in cfg.only:
            small = stack.enter_context(fresh_store(cfg, backend))
            prefill(small, cfg, cfg.query_small, log)
        large, large_events = None, 0
        for i, events in enumerate(sizes):
            # A larger size must fit its prefill and one run (with a margin: both slow down
            # per event as the store grows) in what is left; if not, it is skipped.
            need = 1.3 * estimate * events
            if time.time() + need > deadline:
                notes.append(f"{events:,} events skipped: would take ~{need:.0f}s (--budget)")
                break
            large, large_events = stack.enter_context(fresh_store(cfg, backend)), events
            prefill_s = prefill(large, cfg, events - WORKLOADS, log)
            lifecycle, lifecycle_events, lifecycle_s = None, 0, 0.0
            if mixed:
                lifecycle = stack.enter_context(fresh_store(cfg, backend))
                lifecycle_s, lifecycle_events = prefill_lifecycle(lifecycle, cfg, events, log)
            estimate = (prefill_s + lifecycle_s) / events
            if not rebuilds:
                continue
            count = cfg.slow_runs if events >= LARGE else cfg.runs
            # Each run: the floor and the rebuild of the store of outcomes, and (rebuild-mixed)
            # of the lifecycle store, which goes first every other run.
            stores: list[_StoreRuns] = [(large, events, [], [])]
            if lifecycle is not None:
                stores.append((lifecycle, lifecycle_events, [], []))
            runs: list[str] = []
            unchecked: list[Rebuild] = []  # the rebuilds without the fold check
            for n in range(count):
                start = time.perf_counter()
                for store, expected, floors, done in stores[:: 1 if n % 2 == 0 else -1]:
                    floors.append(rebuild_floor(store))
                    gc.collect()
                    # Without the fold check: after the rebuild with it, or (odd runs) before.
                    off = checked and store is large
                    if off and n % 2 == 1:
                        unchecked.append(rebuild_in_child(store, 600.0, check=False))
                    done.append(rebuild_in_child(store, max(600.0, deadline - time.time())))
                    if off and n % 2 == 0:
                        unchecked.append(rebuild_in_child(store, 600.0, check=False))
                    if done[-1].events != expected:
                        raise RuntimeError(f"rebuild applied {done[-1].events}, not {expected}")
                took = time.perf_counter() - start
                estimate = (prefill_s + lifecycle_s + took) / events
                for store, _, floors, done in stores:
                    r, (select_s, insert_s) = done[-1], floors[-1]
                    what = "lifecycle store: " if store is lifecycle else ""
                    without = (
                        f", {unchecked[-1].seconds:.2f}s without the fold check"
                        if checked and store is large and unchecked
                        else ""
                    )
                    runs.append(
                        f"run {n + 1}: {what}rebuild {r.seconds:.2f}s{without} (RSS idle "
                        f"{r.idle_kb >> 10} MB, peak {r.peak_kb >> 10} MB), floor "
                        f"{select_s:.2f}s select + {insert_s:.2f}s insert"
                    )
                    log(f"[{backend}] {events:,} events, {runs[-1]}")
                later = sum(1.3 * estimate * e for e in sizes[i + 1 :])
                if n + 1 < count and time.time() + took + later > deadline:
                    notes.append(f"{events:,} events: {n + 1} of {count} runs (--budget)")
                    break
            how = "`executemany`" if backend == "sqlite" else "COPY"
            vs = f", vs raw select + {how}" if i == 0 else ""
            _, _, floors, last = stores[0]
            today = Result(
                backend,
                f"rebuild rate, {events:,} events{vs}",
                [events / r.seconds for r in last],
                [events / (s + t) for s, t in floors],
                "{:,.0f} ev/s",
                "≥ 0.5",
                in_table="rebuild" in cfg.only,
                notes=[
                    f"prefill {events - WORKLOADS:,} reports in {prefill_s:.1f}s",
                    *[run for run in runs if "lifecycle" not in run],
                ],
            )
            results.append(today)
            if unchecked:
                results.append(
                    Result(
                        backend,
                        f"rebuild with the fold check vs without, {events:,} events",
                        [r.seconds for r in last],
                        [r.seconds for r in unchecked],
                        "{:.2f} s",
                        notes=[
                            "per run, with / without: "
                            + ", ".join(
                                f"{w.seconds / wo.seconds:.3f}"
                                for w, wo in zip(last, unchecked, strict=True)
                            ),
                            "the rebuilding process's CPU seconds, with / without: "
                            + ", ".join(
                                f"{w.cpu_seconds:.2f} / {wo.cpu_seconds:.2f}"
                                for w, wo in zip(last, unchecked, strict=True)
                            ),
                        ],
                    )
                )
            if lifecycle is not None:
                results += lifecycle_results(
                    backend, events, lifecycle_events, today, stores[1], lifecycle_s, runs, vs
                )
        if last:
            growth = [(r.peak_kb - r.idle_kb) / 1024 for r in last]
            results.append(
                Result(
                    backend,
                    f"peak RSS growth, rebuild of {last[0].events:,} events",
                    growth,
                    [r.idle_kb / 1024 for r in last],
                    "+{:.0f} MB",
                    "< 150 MB",
                    "idle {:.0f} MB",
                    applies=last[0].events >= 1_000_000,
                    in_table="rebuild" in cfg.only,
                    notes=[f"largest growth {max(growth):.0f} MB"],
                )
            )
        if small is not None and large is not None:
            scale = f"{_short(large_events)} vs {_short(cfg.query_small)}"
            results += query_scaling(cfg, small, large, scale, first)
    if "overdue" in cfg.only:
        results += overdue.run(cfg, backend, log)
    if "asof" in cfg.only:
        results += asof.run(cfg, backend, log)
    if "failures" in cfg.only:
        results += failures.run(cfg, backend, log)
    if results:
        results[0].notes += notes
    for note in notes:
        log(f"[{backend}] {note}")
    return results


def lifecycle_results(
    backend: str,
    size: int,
    events: int,
    today: Result,
    runs_of: _StoreRuns,
    prefill_s: float,
    runs: list[str],
    vs: str,
) -> list[Result]:
    """The lifecycle store's rebuild rate against its floor, and its share of the floor
    against today's (outcomes only), run by run."""
    _, _, floors, done = runs_of
    rate = Result(
        backend,
        f"rebuild rate, {size:,} events, lifecycle mix{vs}",
        [events / r.seconds for r in done],
        [events / (s + t) for s, t in floors],
        "{:,.0f} ev/s",
        "(info)",
        notes=[
            f"{events:,} events: {WORKLOADS:,} registrations, then deploys of a request, 1-2 "
            f"progress messages and an outcome (data.lifecycle_stream); prefill {prefill_s:.1f}s",
            "peak RSS growth per run: "
            + ", ".join(f"+{(r.peak_kb - r.idle_kb) / 1024:.0f} MB" for r in done),
            *[run for run in runs if "lifecycle" in run],
        ],
    )
    shares = [lib / base for lib, base in zip(rate.library, rate.baseline, strict=True)]
    before = [lib / base for lib, base in zip(today.library, today.baseline, strict=True)]
    share = Result(
        backend,
        f"rebuild, lifecycle mix vs outcomes only (rate / floor), {size:,} events",
        shares,
        before,
        "{:.2f}",
        "≥ 0.8",
        notes=[
            "value: the lifecycle store's rebuild rate as a share of its own floor; baseline: "
            "the same for the store of outcomes only (today's), both of the same run",
            f"rates alone (events/s): lifecycle {rate.library_median:,.0f} vs outcomes "
            f"{today.library_median:,.0f} ({rate.library_median / today.library_median:.2f}); "
            f"floors {rate.baseline_median:,.0f} vs {today.baseline_median:,.0f}",
        ],
    )
    return [rate, share]


def prefill_lifecycle(store: Store, cfg: Config, events: int, log: Log) -> tuple[float, int]:
    """Record lifecycle messages (requests, progress, outcomes) with record_many() until the
    store holds `events` events with its registrations; return the seconds and the events."""
    workloads = fleet(WORKLOADS, cfg.seed)
    messages = lifecycle_stream(cfg.seed, workloads)
    count = events - WORKLOADS
    log(f"[{store.backend}] prefill {count:,} lifecycle messages")
    seen: set[str] = set()
    start = time.perf_counter()
    with Ledger.open(store.url, create=True) as ledger:
        for first in range(0, count, CHUNK):
            chunk = list(itertools.islice(messages, min(CHUNK, count - first)))
            seen.update(m["workloadRtId"] for m in chunk)
            ledger.record_many(chunk)
    return time.perf_counter() - start, count + len(seen)


def query_scaling(cfg: Config, small: Store, large: Store, scale: str, first: bool) -> list[Result]:
    """Median latency of each query on both stores, timed alternately in rounds of 10."""
    hot = fleet(WORKLOADS, cfg.seed)[0]
    results = []
    with Ledger.open(small.url) as on_small, Ledger.open(large.url) as on_large:
        on_small.catch_up()
        on_large.catch_up()
        for name, query in QUERIES.items():
            found = (len(query(on_small, hot)), len(query(on_large, hot)))
            for _ in range(cfg.warmup):
                query(on_small, hot)
                query(on_large, hot)
            times: tuple[list[float], list[float]] = ([], [])
            while len(times[1]) < cfg.queries:
                for side, ledger in enumerate((on_small, on_large)):
                    for _ in range(min(10, cfg.queries - len(times[side]))):
                        start = time.perf_counter()
                        query(ledger, hot)
                        times[side].append((time.perf_counter() - start) * 1000)
            label = name if first or "(" not in name else name.split(" (")[0]
            results.append(
                Result(
                    large.backend,
                    f"{label}, {scale}" + (" attempts" if "--failed" in name else ""),
                    [statistics.median(times[1])],
                    [statistics.median(times[0])],
                    "{:.2f} ms",
                    "≤ 2",
                    in_table=not name.startswith("`history"),
                    notes=[
                        f"rows returned {found[1]} (large) / {found[0]} (small); {cfg.queries} "
                        f"timed calls each after {cfg.warmup} warm-up calls"
                    ],
                )
            )
    return results
