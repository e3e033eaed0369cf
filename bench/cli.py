"""`python -m bench`: run the measurements, print the table, write bench/results/latest.md."""

from __future__ import annotations

import argparse
import dataclasses
import re
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench import measure, output
from bench.config import Config, default_postgres_dsn
from bench.outcome import Result
from bench.stores import BACKENDS, Target, check_postgres, postgres_settings

RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"
MEASUREMENTS = ("record", "history", "many")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark deployledger against raw sqlite3 / psycopg floors.",
    )
    p.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    p.add_argument("--quick", action="store_true", help="a fast smoke run with small sizes")
    p.add_argument("--runs", type=int, help="runs of record() measurements (default 5)")
    p.add_argument("--many-runs", type=int, help="runs of record_many() (default 3)")
    p.add_argument("--ops", type=int, help="timed record() calls per run (default 300)")
    p.add_argument("--prior", type=int, help="prior attempts of the long history (10,000)")
    p.add_argument("--many", type=int, help="reports in one record_many() (default 100,000)")
    p.add_argument(
        "--only", choices=MEASUREMENTS, action="append", help="run only this measurement"
    )
    p.add_argument(
        "--postgres",
        default=default_postgres_dsn(),
        help="server DSN; scratch databases are created and dropped there "
        "(default: $DEPLOYLEDGER_BENCH_POSTGRES, $DEPLOYLEDGER_TEST_POSTGRES, or "
        "postgresql://postgres@127.0.0.1:5432/test)",
    )
    p.add_argument("--tmpdir", help="where SQLite files go (default: the system temp dir)")
    p.add_argument("--output", type=Path, default=RESULTS, help="markdown results file")
    p.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = p.parse_args(argv)
    for name in ("runs", "many_runs", "ops", "prior", "many"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def config_from(args: argparse.Namespace) -> Config:
    cfg = Config.quick_config() if args.quick else Config()
    changes: dict[str, Any] = {}
    if args.runs is not None:
        changes["runs"] = args.runs
        changes["many_runs"] = min(cfg.many_runs, args.runs)
    if args.many_runs is not None:
        changes["many_runs"] = args.many_runs
    if args.ops is not None:
        changes["ops"] = args.ops
    if args.prior is not None:
        changes["large_prior"] = args.prior
    if args.many is not None:
        changes["many"] = args.many
    return dataclasses.replace(cfg, **changes)


def _redact(text: str) -> str:
    """Mask passwords in DSNs (URL or key=value form) before they are shown or written."""
    text = re.sub(r"(://[^:/@\s]*):[^@\s]*@", r"\1:***@", text)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Unwind normally, so that scratch databases and temp files are removed.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args(argv)
    cfg = config_from(args)
    backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    wanted = args.only or list(MEASUREMENTS)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    pg_settings = None
    if "postgres" in backends:
        problem = check_postgres(args.postgres)
        if problem is not None:
            print(
                f"PostgreSQL is not reachable ({problem}); start it, pass --postgres DSN, "
                "or run with --backend sqlite",
                file=sys.stderr,
            )
            return 2
        pg_settings = postgres_settings(args.postgres)

    info = output.machine_info(pg_settings, args.tmpdir)
    print("\n".join(output.info_lines(info)), flush=True)
    print(flush=True)

    results: list[Result] = []
    fairness: dict[str, dict[str, Any]] = {}
    for backend in backends:
        target = Target(backend, tmp_root=args.tmpdir, postgres_dsn=args.postgres)
        seen: dict[str, Any] = {}
        if "record" in wanted:
            results.append(measure.measure_record(target, cfg, log, seen))
        if "history" in wanted:
            results.extend(measure.measure_history(target, cfg, log, seen))
        if "many" in wanted:
            results.extend(measure.measure_many(target, cfg, log, seen))
        fairness[backend] = seen

    for backend, seen in fairness.items():
        for who in ("library", "floor"):
            if f"{who}_settings" in seen:
                shown = ", ".join(f"{k}={v}" for k, v in seen[f"{who}_settings"].items())
                info[f"{backend} {who} connection"] = shown
    info["load average at end"] = output._load()
    settings = {
        "mode": "quick (smoke run, small sizes)" if cfg.quick else "full",
        **{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name != "quick"},
        "elapsed": f"{time.perf_counter() - started:.0f} s",
    }
    command = _redact("python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:]))
    print(output.text_table(results))
    print()
    print(output.LEGEND)
    print()
    print("\n".join(output.details(results)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(output.markdown(results, info, settings, command.strip()))
    print(f"\nwritten to {args.output}")
    if args.strict and not all(r.met for r in results):
        return 1
    return 0
