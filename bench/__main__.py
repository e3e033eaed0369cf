"""`python -m bench [writes|readmodel|http|export|log|all]`: run the benchmarks, print the README's
tables, write them with per-run details to bench/results/<suite>.md."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import (
    DEFAULT_POSTGRES,
    EXTRA_MEASUREMENTS,
    MEASUREMENTS,
    Config,
    burst,
    export,
    http,
    readmodel,
    report,
    writes,
)
from bench import log as ledger_log
from bench.stores import check_postgres, postgres_settings, redact

SUITES = {
    "writes": "Writes",
    "readmodel": "Read model",
    "http": "HTTP",
    "export": "Export",
    "log": "Tamper-evident log",
}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value:g}")
    return value


def _counts(text: str) -> tuple[int, ...]:
    counts = tuple(sorted({_positive(count) for count in text.split(",")}))
    if counts[0] != 1:
        raise argparse.ArgumentTypeError("must start with 1 (the baseline of the others)")
    return counts


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(sorted(int(size.replace("_", "")) for size in text.split(",")))
    if sizes[0] <= readmodel.WORKLOADS:
        raise argparse.ArgumentTypeError(f"must exceed {readmodel.WORKLOADS:,} (registrations)")
    return sizes


def _fleets(text: str) -> tuple[int, int]:
    sizes = sorted(int(size.replace("_", "")) for size in text.split(","))
    if len(sizes) != 2 or sizes[0] < 1_000:
        raise argparse.ArgumentTypeError("must be two sizes of at least 1,000, e.g. 10000,1000000")
    return sizes[0], sizes[1]


def parse(argv: list[str]) -> tuple[str, Config, argparse.Namespace]:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("suite", nargs="?", choices=[*SUITES, "all"], default="all")
    p.add_argument("--quick", action="store_true", help="a smoke run with small sizes")
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    only = MEASUREMENTS + EXTRA_MEASUREMENTS
    p.add_argument("--only", choices=only, action="append", help="repeatable")
    p.add_argument("--runs", type=_positive, help="runs of record(), history, rebuilds < 500k (5)")
    slow = "runs of record_many(), and of rebuilds from 500k events (3)"
    p.add_argument("--slow-runs", "--many-runs", "--large-runs", type=_positive, help=slow)
    p.add_argument("--ops", type=_positive, help="timed record() calls per run (300)")
    p.add_argument("--prior", type=_positive, dest="large_prior", help="long history (10,000)")
    p.add_argument("--many", type=_positive, help="reports in one record_many() (100,000)")
    p.add_argument("--imports", type=_positive, help="reports `deployledger record` imports (200k)")
    p.add_argument("--sizes", type=_sizes, help="events of the rebuilt stores (100000,1000000)")
    p.add_argument("--query-small", type=_positive, help="attempts, small query store (10k)")
    p.add_argument("--queries", type=_positive, help="timed calls per query and store (200)")
    fleet = "workloads of the small and large overdue stores (10000,1000000)"
    p.add_argument("--overdue-fleet", type=_fleets, help=fleet)
    asof = "history rows of the small and large as-of stores (10000,1000000)"
    p.add_argument("--asof-sizes", type=_fleets, help=asof)
    sizes = "attempts of the small and large failures stores (10000,1000000)"
    p.add_argument("--failures-sizes", type=_fleets, help=sizes)
    p.add_argument("--export-rows", type=_positive, help="attempts audit --all exports (1M)")
    p.add_argument("--export-runs", type=_positive, help="timed runs of each export (3)")
    p.add_argument("--log-events", type=_positive, help="reports in the store verify checks (1M)")
    p.add_argument("--log-runs", type=_positive, help="timed runs of verify and its floor (3)")
    p.add_argument("--burst", type=_positive, help="POSTs of the 32-client burst (20,000)")
    p.add_argument("--many-chunk", type=_positive, help="reports per chunked call (2,000)")
    p.add_argument("--http-workers", type=_counts, help="`serve --workers` of requests/s (1,2,4)")
    p.add_argument("--client-processes", type=_positive, help="requests/s client processes (2)")
    p.add_argument("--client-threads", type=_positive, help="connections per client process (8)")
    p.add_argument("--rps-seconds", type=_seconds, help="seconds counted per requests/s run (5)")
    p.add_argument("--rps-warm", type=_seconds, help="seconds of load before counting (1)")
    p.add_argument("--budget", type=float, help="seconds for the read-model suite (3000)")
    p.add_argument("--seed", type=int, help="of the generated reports (3)")
    env = os.environ.get("DEPLOYLEDGER_BENCH_POSTGRES") or os.environ.get(
        "DEPLOYLEDGER_TEST_POSTGRES"
    )
    where = "$DEPLOYLEDGER_BENCH_POSTGRES, $DEPLOYLEDGER_TEST_POSTGRES, or " + DEFAULT_POSTGRES
    p.add_argument("--postgres", default=env, help=f"server for scratch databases ({where})")
    p.add_argument("--tmpdir", help="where SQLite files go (default: the system temp dir)")
    p.add_argument("--output", type=Path, default=report.ROOT / "bench" / "results", help="dir")
    p.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    a = p.parse_args(argv)
    cfg = Config.quick_config() if a.quick else Config()
    fields = {f.name for f in dataclasses.fields(Config)}
    changes: dict[str, Any] = {k: v for k, v in vars(a).items() if k in fields and v is not None}
    if a.runs and not a.slow_runs:
        changes["slow_runs"] = min(cfg.slow_runs, a.runs)
    changes["backends"] = ("sqlite", "postgres") if a.backend == "both" else (a.backend,)
    changes["only"] = tuple(a.only or MEASUREMENTS)
    return a.suite, dataclasses.replace(cfg, **changes), a


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwind, so that scratch stores are removed


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    suite, cfg, args = parse(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    started = time.time()

    def log(message: str) -> None:
        print(f"[{time.time() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    postgres = None
    if "postgres" in cfg.backends:
        problem = check_postgres(cfg.postgres)
        if problem is not None:
            hint = "start it, pass --postgres URL, or run with --backend sqlite"
            print(f"PostgreSQL is not reachable ({problem}); {hint}", file=sys.stderr)
            return 2
        postgres = postgres_settings(cfg.postgres)
    info = report.machine(postgres, cfg.tmpdir or tempfile.gettempdir())
    print("\n".join(info), end="\n\n", flush=True)
    command = redact(shlex.join(["python", "-m", "bench", *argv]))
    missed = False
    for name, title in SUITES.items():
        if suite not in (name, "all"):
            continue
        t0 = time.time()
        results: list[report.Result] = []
        for n, backend in enumerate(cfg.backends, 1):
            if name == "writes":
                results += writes.run(cfg, backend, log)
            elif name == "http":
                results += http.run(cfg, backend, log)
                results += burst.run(cfg, backend, log)
            elif name == "export":
                results += export.run(cfg, backend, log)
            elif name == "log":
                results += ledger_log.run(cfg, backend, log)
            else:
                deadline = t0 + cfg.budget * n / len(cfg.backends)
                results += readmodel.run(cfg, backend, log, deadline)
        settings = [
            f"{'quick (smoke run)' if cfg.quick else 'full'} run of {time.time() - t0:.0f} s",
            ", ".join(f"{k}={v}" for k, v in vars(cfg).items() if k not in ("postgres", "tmpdir")),
            f"load average at end: {report.load()}",
        ]
        print(f"**{title}**\n\n{report.table(results)}\n", flush=True)
        print("\n".join(report.details(results)), end="\n\n")
        args.output.mkdir(parents=True, exist_ok=True)
        path = args.output / f"{name}.md"
        path.write_text(report.markdown(title, command, results, info + settings))
        print(f"written to {path}\n", flush=True)
        missed |= any(r.in_table and r.met == "no" for r in results)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
