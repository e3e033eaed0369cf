"""HTTP benchmarks (`python -m bench http`), against `deployledger serve` started as a real
process on a fresh store, with a token (auth on):

1. a single-report `POST /v1/reports` from a keep-alive client (httpx), `serve --workers 1`,
   vs a direct `Ledger.record()` of the same kind of report on another fresh store of the same
   backend, op by op taking turns, in the same runs. Target: ≤ 2×. For information, the
   same POST to `serve --no-follow` in the same turns: the share of the in-process follower,
   which applies each new event to the read model as it is announced;
2. requests per second with 1, 2 and 4 workers (`--http-workers`): 2 processes
   (`--client-processes`) of 8 threads (`--client-threads`), each a keep-alive connection
   posting single reports (unique messageIds over `RPS_WORKLOADS` workloads) for a fixed
   time (`--rps-seconds`, counted once every client has started and `--rps-warm` more).
   The clients run on the same machine as the service and its database, so the figures are
   what the whole machine does.
   Baseline of the 1-worker row: direct `record()` calls per second in one thread, measured
   in the same run; of the 2- and 4-worker rows: the 1-worker rate of the same run (so the
   ratio is the scaling).

The same suite runs `bench.burst` (measurements `http-floor` and `http-burst`): the POST
against the floor service of `bench.floor`, and a 32-client burst against raw committing
threads, with group commit on and off.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from statistics import fmean, median
from typing import Any

import httpx

from bench import Config
from bench.clients import RPS_WORKLOADS, _client_process, _report
from bench.report import Result
from bench.stores import Store, fresh_store
from deployledger import Ledger

Log = Callable[[str], None]
ROOT = Path(__file__).resolve().parent.parent


def run(cfg: Config, backend: str, log: Log) -> list[Result]:
    if "http" not in cfg.only:
        return []
    return [*measure_post(cfg, backend, log), *measure_rps(cfg, backend, log)]


# ---------------------------------------------------------------------------------------
# The service


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_argv() -> list[str]:
    script = Path(sys.executable).parent / "deployledger"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from deployledger.cli import main; sys.exit(main())"]


@contextmanager
def serving(store: Store, workers: int, *options: str) -> Iterator[tuple[str, str]]:
    """`deployledger serve --workers N` on the store (its schema made first); yields its base
    URL and an admin token. The service runs the code of this checkout (PYTHONPATH)."""
    with Ledger.open(store.url, create=True) as ledger:
        _grant, token = ledger.tokens.create(admin=True, name="bench")
    port = _free_port()
    argv = [*_serve_argv(), "--store", store.url, "serve", "--port", str(port)]
    argv += ["--workers", str(workers), "--no-access-log", *options]
    with _running(argv, port) as base:
        yield base, token


@contextmanager
def floor_serving(store: Store, workers: int) -> Iterator[str]:
    """The floor service (`bench.floor`) with `--workers N` on the store; yields its URL."""
    port = _free_port()
    argv = [sys.executable, "-m", "bench.floor", "--backend", store.backend, "--url", store.url]
    argv += ["--path", store.path, "--port", str(port), "--workers", str(workers)]
    with _running(argv, port) as base:
        yield base


@contextmanager
def _running(argv: list[str], port: int) -> Iterator[str]:
    """The service of `argv` (this checkout's code, PYTHONPATH) in a session of its own,
    healthy; yields its base URL; SIGTERM (then SIGKILL) to its process group at the end."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(proc, base, log, " ".join(argv[:4]))
            yield base
        finally:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


def _wait_healthy(proc: subprocess.Popen[bytes], base: str, log: Any, name: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{name} did not start (exit {proc.poll()}):\n{tail}")
        with suppress(httpx.TransportError):
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------
# 1. One POST vs one record()


def _poster(client: httpx.Client, bodies: list[dict[str, Any]]) -> Callable[[int], None]:
    def post(i: int) -> None:
        response = client.post("/v1/reports", json=bodies[i])
        assert response.status_code == 201, response.text

    return post


def _recorder(ledger: Ledger, bodies: list[dict[str, Any]]) -> Callable[[int], object]:
    return lambda i: ledger.record(bodies[i])


def measure_post(cfg: Config, backend: str, log: Log) -> list[Result]:
    """Three calls in turn, the order rotating: a POST to `serve` (its default, with the
    in-process follower), a POST to `serve --no-follow`, a direct `record()`."""
    count = cfg.warmup + cfg.ops
    keys = ("http", "no-follow", "direct")
    timed: dict[str, list[list[float]]] = {key: [] for key in keys}
    headers = {"Authorization": ""}
    for n in range(cfg.runs):
        bodies = [_report(i, f"post{n}") for i in range(count)]
        with (
            fresh_store(cfg, backend) as served,
            fresh_store(cfg, backend) as unfollowed,
            fresh_store(cfg, backend) as direct_store,
            serving(served, 1) as (base, token),
            serving(unfollowed, 1, "--no-follow") as (base_nf, token_nf),
            Ledger.open(direct_store.url, create=True) as ledger,
            httpx.Client(base_url=base, headers=headers, timeout=30) as client,
            httpx.Client(base_url=base_nf, headers=headers, timeout=30) as client_nf,
        ):
            client.headers["Authorization"] = f"Bearer {token}"
            client_nf.headers["Authorization"] = f"Bearer {token_nf}"

            calls: dict[str, Callable[[int], object]] = {
                "http": _poster(client, bodies),
                "no-follow": _poster(client_nf, bodies),
                "direct": _recorder(ledger, bodies),
            }
            samples: dict[str, list[float]] = {key: [] for key in keys}
            gc.collect()
            for i in range(count):
                turn = (i + n) % len(keys)
                for key in keys[turn:] + keys[:turn]:
                    start = time.perf_counter_ns()
                    calls[key](i)
                    if i >= cfg.warmup:
                        samples[key].append((time.perf_counter_ns() - start) / 1_000)
            for key, values in samples.items():
                timed[key].append(values)
        log(
            f"[{backend}] POST vs record(): run {n + 1}/{cfg.runs}: "
            + ", ".join(f"{key} {fmean(timed[key][-1]):,.0f}" for key in keys)
            + " µs/op (means)"
        )
    p50 = {key: median([median(run) for run in timed[key]]) for key in keys}
    how = (
        f"{cfg.ops} calls each per run after {cfg.warmup} warm-up calls, taking turns; value: "
        "the run's mean µs/op; HTTP: httpx keep-alive client, bearer token, 201 checked; "
        "direct: Ledger.record() in this process on another fresh store"
    )
    return [
        Result(
            backend,
            "single-report `POST /v1/reports` (keep-alive, `--workers 1`) vs direct `record()`",
            [fmean(run) for run in timed["http"]],
            [fmean(run) for run in timed["direct"]],
            "{:,.0f} µs",
            "≤ 2",
            notes=[
                how,
                f"with the run's median op instead: HTTP {p50['http']:,.0f} µs, direct "
                f"{p50['direct']:,.0f} µs, ratio {p50['http'] / p50['direct']:.2f}",
            ],
        ),
        Result(
            backend,
            "the same POST to `serve --no-follow` (no follower in the process)",
            [fmean(run) for run in timed["no-follow"]],
            [fmean(run) for run in timed["direct"]],
            "{:,.0f} µs",
            notes=[
                how,
                f"with the run's median op instead: {p50['no-follow']:,.0f} µs, ratio "
                f"{p50['no-follow'] / p50['direct']:.2f}",
            ],
        ),
    ]


# ---------------------------------------------------------------------------------------
# 2. Requests per second


def _rate(
    cfg: Config, base: str, token: str, prefix: str, warm: float, seconds: float
) -> tuple[float, str]:
    """2xx answers per second over `seconds`, after `warm` seconds of the same load; the
    clock starts once every client process has started (imports included)."""
    port = int(base.rsplit(":", 1)[1])
    ctx = multiprocessing.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    window = ctx.Array("d", 2)
    procs = [
        ctx.Process(
            target=_client_process,
            args=(port, token, f"{prefix}-p{p}", cfg.client_threads, ready, go, window, out),
        )
        for p in range(cfg.client_processes)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    window[0] = time.monotonic() + warm
    window[1] = window[0] + seconds
    stop_at = window[1]
    go.set()
    totals: Counter[int] = Counter()
    for _ in procs:
        totals.update(
            {int(k): v for k, v in out.get(timeout=stop_at - time.monotonic() + 120).items()}
        )
    for proc in procs:
        proc.join(timeout=60)
    ok = sum(v for k, v in totals.items() if 200 <= k < 300)
    others = {k: v for k, v in totals.items() if not 200 <= k < 300}
    return ok / seconds, (f"non-2xx answers: {others}" if others else "")


def _direct_rate(cfg: Config, backend: str, seconds: float) -> float:
    """record() calls per second, one thread, on a fresh store."""
    with fresh_store(cfg, backend) as store, Ledger.open(store.url, create=True) as ledger:
        for i in range(cfg.warmup):
            ledger.record(_report(i, "warm"))
        done, n = 0, cfg.warmup
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            ledger.record(_report(n, "direct"))
            n += 1
            done += 1
        return done / (time.monotonic() - start)


def measure_rps(cfg: Config, backend: str, log: Log) -> list[Result]:
    seconds, warm = cfg.rps_seconds, cfg.rps_warm
    counts = cfg.http_workers
    rates: dict[int, list[float]] = {w: [] for w in counts}
    direct: list[float] = []
    problems: list[str] = []
    for n in range(cfg.runs):
        order = counts if n % 2 == 0 else counts[::-1]
        for workers in order:
            with fresh_store(cfg, backend) as store, serving(store, workers) as (base, token):
                rate, problem = _rate(cfg, base, token, f"rps{n}w{workers}", warm, seconds)
            rates[workers].append(rate)
            if problem:
                problems.append(f"run {n + 1}, {workers} workers: {problem}")
        direct.append(_direct_rate(cfg, backend, seconds))
        log(
            f"[{backend}] requests/s: run {n + 1}/{cfg.runs}: "
            + ", ".join(f"{w} workers {rates[w][-1]:,.0f}" for w in counts)
            + f"; direct record() {direct[-1]:,.0f}/s"
        )
    clients = (
        f"{cfg.client_processes} client processes x {cfg.client_threads} keep-alive connections"
    )
    results = []
    for workers in counts:
        first = workers == counts[0]
        label = f"requests/s, `--workers {workers}`"
        if first:
            clients_count = cfg.client_processes * cfg.client_threads
            label += f" ({clients_count} clients; baseline: `record()`/s, one thread)"
        else:
            label += f" (baseline: `--workers {counts[0]}`)"
        results.append(
            Result(
                backend,
                label,
                rates[workers],
                direct if first else rates[counts[0]],
                "{:,.0f}/s",
                notes=[
                    f"{clients}, single-report POSTs over {RPS_WORKLOADS} workloads, "
                    f"{seconds:g} s counted after {warm:g} s of warm-up; value: 2xx per second",
                    *problems,
                ],
            )
        )
    return results
