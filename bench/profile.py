"""`python -m bench.profile [--events N] [--backend sqlite|postgres|both]`: where the bulk
paths spend their time (issue 12), to read beside the `many` and `rebuild` ratios.

For each backend, on a fresh store of the benchmark's stream: `record_many()` of N reports
under cProfile (the functions with the most own time), then `rebuild()` with the time of
each SQL statement (summed by statement) and the rebuild process's own CPU time beside the
worker processes' (the failure rules, `domain.failures`, run in workers). Figures only
compare within one run: the machine is shared.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import time
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench import Config
from bench.data import fleet, stream
from bench.stores import NAMES, fresh_store
from deployledger import Ledger

CHUNK = 20_000
WHERE = {"sqlite": "Python and SQLite", "postgres": "Python; the server's work is not in it"}


def _statement_times() -> tuple[dict[str, float], Counter[str]]:
    seconds: dict[str, float] = defaultdict(float)
    calls: Counter[str] = Counter()

    @event.listens_for(Engine, "before_cursor_execute")
    def before(conn: Any, *_: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    @event.listens_for(Engine, "after_cursor_execute")
    def after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        key = " ".join(statement.split())[:64]
        seconds[key] += time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())
        calls[key] += 1

    return seconds, calls


def profile(
    backend: str, events: int, cfg: Config, times: tuple[dict[str, float], Counter[str]]
) -> None:
    workloads = fleet(1000, cfg.seed)
    reports = stream(cfg.seed, workloads, 0, events)
    with fresh_store(cfg, backend) as store, Ledger.open(store.url, create=True) as ledger:
        print(f"## {NAMES[backend]}: record_many() of {events:,} reports, cProfile by own time")
        profiler = cProfile.Profile()
        start = time.perf_counter()
        profiler.enable()
        for first in range(0, events, CHUNK):
            ledger.record_many(reports[first : first + CHUNK])
        profiler.disable()
        print(f"{events / (time.perf_counter() - start):,.0f} reports/s under the profiler")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(14)
        print("\n".join(out.getvalue().splitlines()[5:]).strip("\n") + "\n")
        ledger.catch_up()
        seconds, calls = times
        seconds.clear()
        calls.clear()
        own = time.process_time()
        workers = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = ledger.rebuild()
        wall = time.perf_counter() - start
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        child_cpu = (used.ru_utime + used.ru_stime) - (workers.ru_utime + workers.ru_stime)
        print(
            f"## {NAMES[backend]}: rebuild() of {result.events:,} events: {wall:.2f} s wall, "
            f"{time.process_time() - own:.2f} s CPU in this process ({WHERE[backend]}), "
            f"{child_cpu:.2f} s CPU in failure-rule worker processes (0 when the rules ran in "
            "a thread: then they count in this process); by SQL statement:"
        )
        for key, value in sorted(seconds.items(), key=lambda kv: -kv[1])[:12]:
            print(f"{value:7.2f} s {calls[key]:5d}x  {key}")
        print()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    cfg = Config()
    times = _statement_times()
    for backend in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        profile(backend, args.events, cfg, times)


if __name__ == "__main__":
    main()
