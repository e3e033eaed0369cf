"""`deployledger record` of a large JSON Lines file, in a child process: its peak RSS.

Issue 7 found `record` of 200,000 reports (a 31 MB file) peaking at 600 MB, because it
read the whole input and committed it at once; it now streams, and the target is a peak
under 150 MB. The baseline is the same command recording one report on the same store: the
fixed cost (interpreter, libraries, connections), so that the difference is what the input
costs. The peak is the kernel's high-water mark of the child's resident set
(`ru_maxrss`), read by a small launcher process: measured straight from this process, a
child's figure would include this process's own size, inherited when it is forked.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import Config
from bench.data import fleet, series
from bench.report import Result
from bench.stores import Store, fresh_store
from deployledger import Ledger

TARGET_MB = 150
# Run `argv` with stdout discarded; print its exit code and peak RSS (KiB on Linux).
LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""
CLI = ["-c", "from deployledger.cli import main; main()"]


def peak_rss(argv: list[str]) -> float:
    """The peak resident set of `argv` run to its end, in MiB; it must exit 0."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *argv], capture_output=True, text=True, check=False
    )
    try:
        code, peak = map(int, done.stdout.split())
    except ValueError:
        raise RuntimeError(f"launcher failed: {done.stderr[-2000:]}") from None
    if code != 0:
        raise RuntimeError(f"{argv[2:]} exited {code}: {done.stderr[-2000:]}")
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)  # bytes on macOS


def write_backlog(path: Path, count: int, seed: int, per_workload: int) -> int:
    """`count` reports, `per_workload` per workload, round robin (each batch touches every
    workload), one short message and a messageId each; returns the file's size in bytes."""
    rng = random.Random(seed)
    workloads = fleet(max(1, count // per_workload), seed)
    rounds = -(-count // len(workloads))
    columns = [series(w, rounds, rng, helm=False) for w in workloads]
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            written += out.write(json.dumps(columns[n % len(workloads)][n // len(workloads)]))
            written += out.write("\n")
    return written


def record_argv(store: Store, path: Path) -> list[str]:
    return [sys.executable, *CLI, "--store", store.url, "record", str(path)]


def measure_import(cfg: Config, backend: str, log: Callable[[str], None]) -> Result:
    with tempfile.TemporaryDirectory(prefix="dlbench-", dir=cfg.tmpdir) as tmp:
        big, one = Path(tmp, "backlog.jsonl"), Path(tmp, "one.jsonl")
        size = write_backlog(big, cfg.imports, cfg.seed + 3, cfg.per_workload)
        write_backlog(one, 1, cfg.seed + 4, 1)
        peaks: list[float] = []
        bases: list[float] = []
        rates: list[float] = []
        for n in range(cfg.slow_runs):
            with fresh_store(cfg, backend) as store:
                Ledger.open(store.url, create=True).close()  # the schema (PostgreSQL: migrate)
                bases.append(peak_rss(record_argv(store, one)))
                start = time.perf_counter()
                peaks.append(peak_rss(record_argv(store, big)))
                rates.append(cfg.imports / (time.perf_counter() - start))
            log(
                f"[{backend}] record of {cfg.imports:,}: run {n + 1}/{cfg.slow_runs}: peak "
                f"{peaks[-1]:.0f} MB, one report {bases[-1]:.0f} MB, {rates[-1]:,.0f} reports/s"
            )
    growth = [peak - base for peak, base in zip(peaks, bases, strict=True)]
    return Result(
        backend,
        f"peak RSS of `deployledger record` of {cfg.imports:,} reports, vs of 1 report",
        peaks,
        bases,
        "{:,.0f} MB",
        f"< {TARGET_MB} MB",
        applies=cfg.imports >= 200_000,
        notes=[
            f"a JSON Lines file of {size / 1e6:.0f} MB ({size // cfg.imports} B a report), "
            f"{cfg.per_workload} reports a workload, round robin; default batches of 10,000, "
            "validated first; receipts to /dev/null",
            "growth over the one-report run: "
            + ", ".join(f"{g:,.0f} MB" for g in growth)
            + f"; whole command, including validation: {', '.join(f'{r:,.0f}' for r in rates)}"
            " reports/s",
        ],
    )
