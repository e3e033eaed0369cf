"""Write benchmarks, on fresh stores, against baselines measured in the same runs:

1. `record()` latency vs one raw INSERT + COMMIT of a similar row into a similar table, with
   the same durability; baseline and library alternate op by op;
2. `record()` on a workload with 10,000 prior attempts vs one with 10, in a warm process
   (the ledger that wrote them) and a cold one (a freshly opened ledger);
3. `record_many()` of 100,000 reports in one call vs a raw `executemany` in one transaction
   (and, for information, the same reports in calls of 2,000);
4. the peak RSS of `deployledger record` of 200,000 reports vs of one (`bench.imports`);
5. `record()` of each lifecycle message (`record-lifecycle`): deploys on one workload, each a
   deploy request (chart, repository URL and credentials, values YAML, 5 overrides of which
   one is a secret), a progress message and the outcome that closes the request; each call
   against one raw INSERT + COMMIT of the bytes the library stored for that message (taken
   from a scratch store), baseline and library alternating call by call.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from statistics import fmean, median, quantiles

from bench import Config
from bench.baselines import Floor, stored_event_bytes, stored_rows
from bench.data import Report, Workload, deploys, fleet, rows, series, stream, undeploy
from bench.imports import measure_import
from bench.report import Result
from bench.stores import fresh_store
from deployledger import Ledger

Log = Callable[[str], None]
PREFILL_CHUNK = 1_000  # record_many() chunk of the long history's prefill


def _interleaved(
    calls: dict[str, Callable[[int], object]], first: int, count: int, flip: int
) -> dict[str, list[float]]:
    """µs of each `calls[key](i)`, i in [first, first + count), op by op, who goes first
    alternating, so that the machine's noise hits every key alike."""
    keys = list(calls)
    out: dict[str, list[float]] = {key: [] for key in keys}
    for i in range(first, first + count):
        for key in keys if (i + flip) % 2 == 0 else keys[::-1]:
            start = time.perf_counter_ns()
            calls[key](i)
            out[key].append((time.perf_counter_ns() - start) / 1_000)
    return out


def _pooled(name: str, runs: list[list[float]]) -> str:
    values = [value for run in runs for value in run]
    p99 = quantiles(values, n=100, method="inclusive")[98]
    return f"{name} p50 {median(values):,.0f} / p99 {p99:,.0f} µs"


def run(cfg: Config, backend: str, log: Log) -> list[Result]:
    results = []
    if "record" in cfg.only:
        results.append(measure_record(cfg, backend, log))
    if "history" in cfg.only:
        results += measure_history(cfg, backend, log)
    if "many" in cfg.only:
        results += measure_many(cfg, backend, log)
    if "import" in cfg.only:
        results.append(measure_import(cfg, backend, log))
    if "record-lifecycle" in cfg.only:
        results += measure_record_lifecycle(cfg, backend, log)
    return results


def measure_record(cfg: Config, backend: str, log: Log) -> Result:
    rng = random.Random(cfg.seed)
    workload = fleet(1, cfg.seed)[0]
    prior = series(workload, cfg.small_prior, rng, helm=False)
    timed = series(workload, cfg.warmup + cfg.ops, rng, helm=False)
    floor_rows = rows(prior + timed)
    prior_rows, timed_rows = floor_rows[: len(prior)], floor_rows[len(prior) :]
    ops: dict[str, list[list[float]]] = {"library": [], "floor": []}
    sizes, settings = "", ""
    for n in range(cfg.runs):
        with (
            fresh_store(cfg, backend) as floor_store,
            fresh_store(cfg, backend) as store,
            Floor(floor_store) as floor,
            Ledger.open(store.url, create=True) as ledger,
        ):
            floor.insert_many(prior_rows)
            ledger.record_many(prior)
            calls: dict[str, Callable[[int], object]] = {
                "floor": lambda i: floor.insert_one(timed_rows[i]),
                "library": lambda i: ledger.record(timed[i]),
            }
            _interleaved(calls, 0, cfg.warmup, n)
            gc.collect()
            for who, values in _interleaved(calls, cfg.warmup, cfg.ops, n).items():
                ops[who].append(values)
            if not sizes:
                settings = floor.settings()
                floor_bytes = fmean(len(r[3]) for r in timed_rows)
                sizes = f"library {stored_event_bytes(store):.0f} B, floor {floor_bytes:.0f} B"
        log(
            f"[{backend}] record(): run {n + 1}/{cfg.runs}: library "
            f"{fmean(ops['library'][-1]):.0f} µs/op, floor "
            f"{fmean(ops['floor'][-1]):.0f} µs/op (means)"
        )
    durability = "WAL, `synchronous=FULL`" if backend == "sqlite" else "`synchronous_commit=on`"
    p50 = [median([median(run) for run in ops[who]]) for who in ("library", "floor")]
    return Result(
        backend,
        f"`record()`, vs one raw INSERT + COMMIT ({durability})",
        [fmean(run) for run in ops["library"]],
        [fmean(run) for run in ops["floor"]],
        "{:,.0f} µs",
        "≤ 1.5",
        notes=[
            f"{cfg.ops} calls each per run after {cfg.warmup} warm-up calls, on a workload "
            f"with {cfg.small_prior} prior attempts; value: the run's mean µs/op",
            f"with the run's median op instead: library {p50[0]:.0f} µs, floor {p50[1]:.0f} µs, "
            f"ratio {p50[0] / p50[1]:.2f}",
            f"all ops pooled: {_pooled('library', ops['library'])}; "
            f"{_pooled('floor', ops['floor'])}",
            f"stored event size: {sizes}; floor connection: {settings}",
        ],
    )


def measure_history(cfg: Config, backend: str, log: Log) -> list[Result]:
    rng = random.Random(cfg.seed + 1)
    small, large, primer = fleet(3, cfg.seed + 1)
    prior = {
        "small": series(small, cfg.small_prior, rng, helm=True),
        "large": series(large, cfg.large_prior, rng, helm=True),
    }
    count = cfg.warmup + cfg.ops + cfg.cold_samples
    timed = {"small": series(small, count, rng, helm=False)}
    timed["large"] = series(large, count, rng, helm=False)
    primers = series(primer, 2 * cfg.cold_samples, rng, helm=False)
    warm: dict[str, list[list[float]]] = {"small": [], "large": []}
    cold: dict[str, list[list[float]]] = {"small": [], "large": []}
    prefill: list[float] = []
    for n in range(cfg.runs):
        order = ("small", "large") if n % 2 == 0 else ("large", "small")
        samples: dict[str, list[float]] = {"small": [], "large": []}
        with fresh_store(cfg, backend) as store:
            with Ledger.open(store.url, create=True) as ledger:
                start = time.perf_counter()
                for which in ("small", "large"):
                    for i in range(0, len(prior[which]), PREFILL_CHUNK):
                        ledger.record_many(prior[which][i : i + PREFILL_CHUNK])
                prefill.append(time.perf_counter() - start)
                calls: dict[str, Callable[[int], object]] = {
                    which: partial(lambda w, i: ledger.record(timed[w][i]), which)
                    for which in order
                }
                _interleaved(calls, 0, cfg.warmup, 0)
                gc.collect()
                for which, values in _interleaved(calls, cfg.warmup, cfg.ops, 0).items():
                    warm[which].append(values)
            # Cold: a freshly opened ledger (empty cache; PostgreSQL opens as a worker, with
            # table creation off). A first record() on another workload opens the
            # connection, so that the timed call pays for the load, not for connecting.
            for s in range(cfg.cold_samples):
                for k, which in enumerate(order if s % 2 == 0 else order[::-1]):
                    with Ledger.open(store.url) as fresh:
                        fresh.record(primers[2 * s + k])
                        report = timed[which][cfg.warmup + cfg.ops + s]
                        start = time.perf_counter()
                        fresh.record(report)
                        samples[which].append((time.perf_counter() - start) * 1e6)
        for which in order:
            cold[which].append(samples[which])
        log(
            f"[{backend}] history: run {n + 1}/{cfg.runs}: warm {fmean(warm['large'][-1]):.0f} vs "
            f"{fmean(warm['small'][-1]):.0f} µs/op, cold {median(samples['large']):.0f} vs "
            f"{median(samples['small']):.0f} µs (prefill {prefill[-1]:.1f} s)"
        )
    first = backend == cfg.backends[0]
    kinds: list[tuple[dict[str, list[list[float]]], Callable[[list[float]], float], str, str, str]]
    kinds = [
        (
            warm,
            fmean,
            f"`record()` on {cfg.large_prior:,} vs {cfg.small_prior} prior attempts (warm process)",
            "≤ 1.2",
            f"the ledger that prefilled both workloads (record_many() in chunks of "
            f"{PREFILL_CHUNK:,}, {median(prefill):.1f} s per run); {cfg.ops} calls per workload "
            "and run, interleaved; value: the run's mean µs/op",
        ),
        (
            cold,
            median,
            "the same, cold" + (": first `record()` of a freshly opened ledger" if first else ""),
            "(info)",
            f"{cfg.cold_samples} freshly opened ledgers per workload and run, each timing its "
            "first record() on the workload; value: the run's median sample",
        ),
    ]
    results = []
    for runs, stat, label, target, note in kinds:
        pooled = (
            f"pooled: {_pooled(f'{cfg.large_prior:,} prior', runs['large'])}; "
            f"{_pooled(f'{cfg.small_prior} prior', runs['small'])}"
        )
        large_runs, small_runs = [stat(r) for r in runs["large"]], [stat(r) for r in runs["small"]]
        results.append(Result(backend, label, large_runs, small_runs, "{:,.0f} µs", target))
        results[-1].notes += [note, pooled]
    return results


def measure_many(cfg: Config, backend: str, log: Log) -> list[Result]:
    workloads = fleet(max(1, cfg.many // cfg.per_workload), cfg.seed + 2)
    reports = stream(cfg.seed + 2, workloads, 0, cfg.many, hot_share=0)
    floor_rows = rows(reports)
    chunks = [reports[i : i + cfg.many_chunk] for i in range(0, len(reports), cfg.many_chunk)]
    rates: dict[str, list[float]] = {"floor": [], "one call": [], "chunked": []}

    def floor() -> None:
        with fresh_store(cfg, backend) as store, Floor(store) as raw:
            gc.collect()
            start = time.perf_counter()
            raw.insert_many(floor_rows)
            rates["floor"].append(len(floor_rows) / (time.perf_counter() - start))

    def library(batches: list[list[Report]], key: str) -> None:
        with fresh_store(cfg, backend) as store, Ledger.open(store.url, create=True) as ledger:
            gc.collect()
            start = time.perf_counter()
            receipts = [receipt for batch in batches for receipt in ledger.record_many(batch)]
            rates[key].append(len(reports) / (time.perf_counter() - start))
        assert len(receipts) == len(reports)
        assert not any(r.duplicate for r in receipts)
        assert max(r.attempt or 0 for r in receipts) == cfg.per_workload

    steps: list[Callable[[], None]] = [
        floor,
        partial(library, [reports], "one call"),
        partial(library, chunks, "chunked"),
    ]
    for n in range(cfg.slow_runs):
        for step in steps[n % 3 :] + steps[: n % 3]:  # who goes first rotates
            step()
        log(
            f"[{backend}] record_many(): run {n + 1}/{cfg.slow_runs}: library "
            f"{rates['one call'][-1]:,.0f}/s (one call), {rates['chunked'][-1]:,.0f}/s "
            f"({len(chunks)} calls), floor {rates['floor'][-1]:,.0f}/s"
        )
    sizes = [len(r["statusMessage"].encode()) for r in reports]
    failed = sum(not r["success"] for r in reports) / len(reports)
    return [
        Result(
            backend,
            f"`record_many()` of {cfg.many:,}, vs raw `executemany`",
            rates["one call"],
            rates["floor"],
            "{:,.0f}/s",
            "≥ 0.5",
            notes=[
                f"{len(workloads):,} new workloads x {cfg.per_workload} reports, {failed:.0%} "
                f"failures, messages {min(sizes)}-{max(sizes)} B (mean "
                f"{fmean(sizes):.0f} B), each with a messageId",
                "library input: wire dicts (parsed and validated inside record_many()); "
                "floor input: ready-made row tuples holding the same event JSON",
            ],
        ),
        Result(
            backend,
            f"`record_many()` of {cfg.many:,} in {len(chunks)} calls of {cfg.many_chunk:,}",
            rates["chunked"],
            rates["floor"],
            "{:,.0f}/s",
            in_table=False,
            notes=["for information: the same reports in smaller transactions"],
        ),
    ]


KINDS = ("request", "progress", "outcome", "undeploy")
LIFECYCLE = {
    "request": "a deploy request",
    "progress": "a progress message",
    "outcome": "the outcome that closes the request",
    "undeploy": "an undeploy",
}


def undeployed(workload: Workload, series: list[list[Report]], rng: random.Random) -> None:
    """End each deploy of `series` with an undeploy, so that every kind is timed."""
    for messages in series:
        messages.append(undeploy(rng, workload, datetime.now(UTC)))


def measure_record_lifecycle(cfg: Config, backend: str, log: Log) -> list[Result]:
    """`record()` of a request, a progress message, an outcome and an undeploy, deploy after
    deploy on one workload, each call against one raw INSERT + COMMIT of the same stored
    bytes."""
    rng = random.Random(cfg.seed + 3)
    workload = fleet(2, cfg.seed + 3)[1]
    earlier = deploys(workload, cfg.small_prior, rng)
    undeployed(workload, earlier, rng)
    prior = [m for d in earlier for m in d]
    timed = deploys(workload, cfg.warmup + cfg.ops, rng, first=cfg.small_prior)
    undeployed(workload, timed, rng)
    with fresh_store(cfg, backend) as scratch:
        with Ledger.open(scratch.url, create=True) as ledger:
            ledger.record_many(prior + [m for d in timed for m in d])
        stored = stored_rows(scratch)
    prior_rows, timed_rows = stored[: len(prior)], stored[len(prior) :]
    assert len(timed_rows) == len(KINDS) * len(timed)
    sizes = {
        kind: fmean(len(timed_rows[k][3]) for k in range(i, len(timed_rows), len(KINDS)))
        for i, kind in enumerate(KINDS)
    }
    ops: dict[str, dict[str, list[list[float]]]] = {
        kind: {"library": [], "floor": []} for kind in KINDS
    }
    settings = ""
    for n in range(cfg.runs):
        with (
            fresh_store(cfg, backend) as floor_store,
            fresh_store(cfg, backend) as store,
            Floor(floor_store) as floor,
            Ledger.open(store.url, create=True) as ledger,
        ):
            floor.insert_many(prior_rows)
            ledger.record_many(prior)
            settings = settings or floor.settings()
            for kind in KINDS:
                for who in ("library", "floor"):
                    ops[kind][who].append([])
            for i, messages in enumerate(timed):
                if i == cfg.warmup:
                    gc.collect()
                for k, kind in enumerate(KINDS):
                    row, message = timed_rows[len(KINDS) * i + k], messages[k]
                    for who in ("floor", "library") if (i + k + n) % 2 else ("library", "floor"):
                        start = time.perf_counter_ns()
                        if who == "floor":
                            floor.insert_one(row)
                        else:
                            receipt = ledger.record(message)
                        took = (time.perf_counter_ns() - start) / 1_000
                        if i >= cfg.warmup:
                            ops[kind][who][-1].append(took)
                    assert receipt.kind == kind
                    assert not receipt.duplicate
            state = ledger.get(workload.tenant, workload.rt_id)
            assert state.attempts == cfg.small_prior + len(timed), state
        log(
            f"[{backend}] record() of lifecycle messages: run {n + 1}/{cfg.runs}: "
            + ", ".join(
                f"{kind} {fmean(ops[kind]['library'][-1]):.0f} vs "
                f"{fmean(ops[kind]['floor'][-1]):.0f} µs/op"
                for kind in KINDS
            )
        )
    durability = "WAL, `synchronous=FULL`" if backend == "sqlite" else "`synchronous_commit=on`"
    results = []
    for kind in KINDS:
        runs = ops[kind]
        p50 = [median([median(run) for run in runs[who]]) for who in ("library", "floor")]
        vs = " vs one raw INSERT + COMMIT" if kind == "request" else ""
        results.append(
            Result(
                backend,
                f"`record()` of {LIFECYCLE[kind]}{vs}" + (f" ({durability})" if vs else ""),
                [fmean(run) for run in runs["library"]],
                [fmean(run) for run in runs["floor"]],
                "{:,.0f} µs",
                "≤ 1.5",
                notes=[
                    f"{cfg.ops} deploys per run (request, progress, outcome, undeploy) after "
                    f"{cfg.warmup} warm-up deploys, on a workload with {cfg.small_prior} prior "
                    "deploys; value: the run's mean µs/op",
                    f"with the run's median op instead: library {p50[0]:.0f} µs, floor "
                    f"{p50[1]:.0f} µs, ratio {p50[0] / p50[1]:.2f}",
                    f"all ops pooled: {_pooled('library', runs['library'])}; "
                    f"{_pooled('floor', runs['floor'])}",
                    f"stored event (and floor row) {sizes[kind]:.0f} B; floor connection: "
                    f"{settings}",
                ],
            )
        )
    return results
