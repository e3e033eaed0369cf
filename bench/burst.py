"""The write path against its floors (`python -m bench http`, issue 22), on fresh stores,
`deployledger serve` as a real process with a token:

1. `http-floor`: a single-report `POST /v1/reports` from one keep-alive client to `serve
   --workers 1` (group commit on, its default) vs the same POST to the floor service
   (`bench.floor`: FastAPI on uvicorn in the same process model, one raw INSERT + COMMIT),
   call by call taking turns, the order rotating; for information, the same POST to `serve
   --no-group-commit` in the same turns. The client is `http.client` with the body encoded
   beforehand, so that the client's own cost dilutes neither side. Target: ≤ 1.25×;
2. `http-burst`: `BURST_CLIENTS` keep-alive clients (`CLIENT_PROCESSES` processes of
   threads) posting `--burst` single reports in all (unique messageIds over `RPS_WORKLOADS`
   workloads) as fast as they are answered, against `serve --workers 1` with group commit,
   the same with `--no-group-commit`, and `--workers 2` and `4` with group commit; baseline:
   `BURST_CLIENTS` threads each doing one raw INSERT + COMMIT per report of the same bodies
   with no lock (`bench.floor.raw_burst`). Throughput: 2xx answers / seconds from the clients'
   common start to the last answer. Target (workers 1, group commit): ≥ 1.0×. The p50 and p99
   of the same runs' request latencies: group commit on (after) vs off (before).

Each run measures every variant once, in an order that alternates between runs; each figure
is the median over runs, and each ratio is against the baseline of the same runs.
"""

from __future__ import annotations

import gc
import http.client
import json
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable
from statistics import median, quantiles
from typing import Any

from bench import Config
from bench.clients import RPS_WORKLOADS, _report, post
from bench.floor import raw_burst
from bench.http import floor_serving, serving
from bench.report import Result
from bench.stores import fresh_store

Log = Callable[[str], None]
BURST_CLIENTS = 32
CLIENT_PROCESSES = 4  # of BURST_CLIENTS / CLIENT_PROCESSES threads each
BURST_VARIANTS = ("gc-w1", "nogc-w1", "gc-w2", "gc-w4", "raw")
SERVE_OPTIONS = {
    "gc-w1": (1, ()),
    "nogc-w1": (1, ("--no-group-commit",)),
    "gc-w2": (2, ()),
    "gc-w4": (4, ()),
}


def run(cfg: Config, backend: str, log: Log) -> list[Result]:
    results = []
    if "http-floor" in cfg.only:
        results += measure_floor(cfg, backend, log)
    if "http-burst" in cfg.only:
        results += measure_burst(cfg, backend, log)
    return results


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def _body(n: int, prefix: str) -> bytes:
    return json.dumps(_report(n, prefix), separators=(",", ":")).encode()


# ---------------------------------------------------------------------------------------
# 1. One client: serve vs the floor service


class _Poster:
    """A keep-alive `http.client` connection posting pre-encoded single reports."""

    def __init__(self, base: str, token: str | None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", _port(base), timeout=60)
        self.headers = {"Content-Type": "application/json"}
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, body: bytes) -> None:
        self.conn.request("POST", "/v1/reports", body, self.headers)
        response = self.conn.getresponse()
        text = response.read()
        assert response.status == 201, text

    def close(self) -> None:
        self.conn.close()


def measure_floor(cfg: Config, backend: str, log: Log) -> list[Result]:
    count = cfg.warmup + cfg.ops
    keys = ("serve", "no-gc", "floor")
    timed: dict[str, list[float]] = {key: [] for key in keys}  # the run's median µs
    means: dict[str, list[float]] = {key: [] for key in keys}
    for n in range(cfg.runs):
        bodies = {key: [_body(i, f"{key}{n}") for i in range(count)] for key in keys}
        with (
            fresh_store(cfg, backend) as served,
            fresh_store(cfg, backend) as ungrouped,
            fresh_store(cfg, backend) as floored,
            serving(served, 1) as (base, token),
            serving(ungrouped, 1, "--no-group-commit") as (base_nogc, token_nogc),
            floor_serving(floored, 1) as base_floor,
        ):
            posters = {
                "serve": _Poster(base, token),
                "no-gc": _Poster(base_nogc, token_nogc),
                "floor": _Poster(base_floor, None),
            }
            samples: dict[str, list[float]] = {key: [] for key in keys}
            try:
                gc.collect()
                for i in range(count):
                    turn = (i + n) % len(keys)
                    for key in keys[turn:] + keys[:turn]:
                        start = time.perf_counter_ns()
                        posters[key](bodies[key][i])
                        if i >= cfg.warmup:
                            samples[key].append((time.perf_counter_ns() - start) / 1_000)
            finally:
                for poster in posters.values():
                    poster.close()
        for key in keys:
            timed[key].append(median(samples[key]))
            means[key].append(sum(samples[key]) / len(samples[key]))
        log(
            f"[{backend}] POST vs the floor service: run {n + 1}/{cfg.runs}: "
            + ", ".join(f"{key} {timed[key][-1]:,.0f}" for key in keys)
            + " µs/op (medians)"
        )
    how = (
        f"{cfg.ops} POSTs each per run after {cfg.warmup} warm-up POSTs, taking turns, the "
        "order rotating; value: the run's median µs/op; http.client keep-alive connection, "
        "body encoded beforehand, 201 checked; serve with a bearer token, the floor without"
    )

    def mean_ratio(key: str) -> str:
        lib, base = median(means[key]), median(means["floor"])
        return f"with the run's mean op instead: {lib:,.0f} µs vs {base:,.0f} µs, {lib / base:.2f}"

    return [
        Result(
            backend,
            "single-report POST, one keep-alive client, `serve --workers 1` (group commit, "
            "its default) vs the floor service (FastAPI + one raw INSERT + COMMIT)",
            timed["serve"],
            timed["floor"],
            "{:,.0f} µs",
            "≤ 1.25",
            notes=[how, mean_ratio("serve")],
        ),
        Result(
            backend,
            "the same POST to `serve --no-group-commit` vs the floor service",
            timed["no-gc"],
            timed["floor"],
            "{:,.0f} µs",
            notes=[how, mean_ratio("no-gc")],
        ),
    ]


# ---------------------------------------------------------------------------------------
# 2. and 3. A burst of 32 clients


def _burst_client(
    port: int, token: str, prefix: str, first: int, total: int, ready: Any, go: Any, out: Any
) -> None:
    """Threads numbered from `first`, every `BURST_CLIENTS`th report each, one keep-alive
    connection each, connected before `go` is set; puts (statuses, latencies in µs, the
    monotonic time of the last answer) on `out`."""
    per_process = BURST_CLIENTS // CLIENT_PROCESSES
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    counts: Counter[int] = Counter()
    latencies: list[float] = []
    ends: list[float] = []
    lock = threading.Lock()
    connected = threading.Barrier(per_process + 1)

    def worker(number: int) -> None:
        bodies = [_body(i, prefix) for i in range(number, total, BURST_CLIENTS)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.connect()
        mine: Counter[int] = Counter()
        times: list[float] = []
        connected.wait()
        go.wait()
        for body in bodies:
            start = time.perf_counter_ns()
            conn, status = post(conn, body, headers, 120)
            times.append((time.perf_counter_ns() - start) / 1_000)
            mine[status] += 1
        end = time.monotonic()
        conn.close()
        with lock:
            counts.update(mine)
            latencies.extend(times)
            ends.append(end)

    threads = [threading.Thread(target=worker, args=(first + t,)) for t in range(per_process)]
    for thread in threads:
        thread.start()
    connected.wait()
    ready.put(first)
    for thread in threads:
        thread.join()
    out.put((dict(counts), latencies, max(ends)))


def _burst(base: str, token: str, prefix: str, total: int) -> tuple[float, list[float], str]:
    """2xx per second of `total` POSTs by `BURST_CLIENTS` clients, each request's µs, and
    the non-2xx answers if any."""
    ctx = multiprocessing.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    per_process = BURST_CLIENTS // CLIENT_PROCESSES
    procs = [
        ctx.Process(
            target=_burst_client,
            args=(_port(base), token, prefix, p * per_process, total, ready, go, out),
        )
        for p in range(CLIENT_PROCESSES)
    ]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready.get(timeout=120)
        time.sleep(0.2)  # every thread blocked on `go`
        started = time.monotonic()
        go.set()
        totals: Counter[int] = Counter()
        latencies: list[float] = []
        last = started
        for _ in procs:
            counts, times, end = out.get(timeout=1_800)
            totals.update({int(k): v for k, v in counts.items()})
            latencies += times
            last = max(last, end)
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
    ok = sum(v for k, v in totals.items() if 200 <= k < 300)
    others = {k: v for k, v in totals.items() if not 200 <= k < 300}
    return ok / (last - started), latencies, (f"non-2xx answers: {others}" if others else "")


def _p(values: list[float], q: int) -> float:
    return quantiles(values, n=100, method="inclusive")[q - 1]


def measure_burst(cfg: Config, backend: str, log: Log) -> list[Result]:
    total = cfg.burst
    rates: dict[str, list[float]] = {key: [] for key in BURST_VARIANTS}
    p50: dict[str, list[float]] = {key: [] for key in BURST_VARIANTS}
    p99: dict[str, list[float]] = {key: [] for key in BURST_VARIANTS}
    problems: list[str] = []
    for n in range(cfg.runs):
        order = BURST_VARIANTS if n % 2 == 0 else BURST_VARIANTS[::-1]
        for key in order:
            with fresh_store(cfg, backend) as store:
                if key == "raw":
                    bodies = [_body(i, f"raw{n}") for i in range(total)]
                    seconds, latencies = raw_burst(store, bodies, BURST_CLIENTS)
                    rate = total / seconds
                else:
                    workers, options = SERVE_OPTIONS[key]
                    with serving(store, workers, *options) as (base, token):
                        rate, latencies, problem = _burst(base, token, f"b{n}{key}", total)
                    if problem:
                        problems.append(f"run {n + 1}, {key}: {problem}")
            rates[key].append(rate)
            p50[key].append(_p(latencies, 50) / 1_000)
            p99[key].append(_p(latencies, 99) / 1_000)
        log(
            f"[{backend}] burst of {total:,} POSTs, {BURST_CLIENTS} clients: run {n + 1}/"
            f"{cfg.runs}: "
            + ", ".join(f"{key} {rates[key][-1]:,.0f}/s" for key in BURST_VARIANTS)
            + "; p99 "
            + ", ".join(f"{key} {p99[key][-1]:,.1f}" for key in BURST_VARIANTS)
            + " ms"
        )
    clients = (
        f"{total:,} single-report POSTs (unique messageIds over {RPS_WORKLOADS} workloads) "
        f"from {BURST_CLIENTS} keep-alive clients ({CLIENT_PROCESSES} processes of "
        f"{BURST_CLIENTS // CLIENT_PROCESSES} threads) on the same 2 cores as the service and "
        "its database; value: 2xx per second from the clients' common start to the last answer"
    )
    raw = (
        f"baseline: {BURST_CLIENTS} threads in one process, a connection each, one INSERT + "
        f"COMMIT per report of the same bodies, no lock (raw p50 "
        f"{median(p50['raw']):,.1f} ms, p99 {median(p99['raw']):,.1f} ms per INSERT + COMMIT)"
    )
    w1 = median(rates["gc-w1"])

    def scaling(key: str) -> str:
        return f"against `--workers 1` with group commit: {median(rates[key]) / w1:.2f}"

    def latency(q: str, values: dict[str, list[float]]) -> Result:
        return Result(
            backend,
            f"{q} latency of a POST in that burst, `--workers 1`: group commit (after) vs "
            "`--no-group-commit` (before)",
            values["gc-w1"],
            values["nogc-w1"],
            "{:,.1f} ms",
            notes=[clients.split("; value")[0], f"value: the run's {q} over every POST"],
        )

    label = f"burst throughput, {BURST_CLIENTS} clients, {total:,} POSTs"
    return [
        Result(
            backend,
            f"{label}, `serve --workers 1` (group commit) vs {BURST_CLIENTS} threads of raw "
            "INSERT + COMMIT",
            rates["gc-w1"],
            rates["raw"],
            "{:,.0f}/s",
            "≥ 1.0",
            notes=[clients, raw, *problems],
        ),
        Result(
            backend,
            f"{label}, `serve --workers 1 --no-group-commit` vs the same raw threads",
            rates["nogc-w1"],
            rates["raw"],
            "{:,.0f}/s",
            notes=[clients, raw],
        ),
        Result(
            backend,
            f"{label}, `serve --workers 2` (group commit) vs the same raw threads",
            rates["gc-w2"],
            rates["raw"],
            "{:,.0f}/s",
            notes=[clients, raw, scaling("gc-w2")],
        ),
        Result(
            backend,
            f"{label}, `serve --workers 4` (group commit) vs the same raw threads",
            rates["gc-w4"],
            rates["raw"],
            "{:,.0f}/s",
            notes=[clients, raw, scaling("gc-w4")],
        ),
        latency("p50", p50),
        latency("p99", p99),
    ]
