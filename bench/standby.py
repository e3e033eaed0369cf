"""`python -m bench.standby`: what reads from a standby save the writers.

A private primary with an asynchronous streaming standby (devtools/replicated_postgres.py,
made with `initdb` and `pg_basebackup`; the shared server is not used). 8 writer threads
load the primary through `Ledger.record()` (one `Ledger`, each thread its own workloads)
while 16 reader threads, in a process of their own (so they do not share the writers'
GIL), run the dashboard's and the auditors' queries in a loop: the fleet
(`workloads()`), one audit page (`audit(limit=50)`), the failure groups of the last day
and the delivery stats of the last 30 days (each reader waits `--reader-pause` after each
query). A projection follower keeps the primary's read model live, in a process of its own
too, as `deployledger project --follow` does.

Each run measures the writers' throughput twice, for `--seconds` each: with the readers on
the standby (`Ledger.open(primary, read_url=standby)`) and with the readers on the primary;
the order alternates between runs. The figure is the ratio of the two throughputs in the
same run (standby / primary), the median over `--runs` runs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from deployledger import Ledger
from devtools.replicated_postgres import ReplicatedPair

TENANTS = ("acme", "globex", "initech", "umbrella")
WRITERS = 8
READERS = 16


def _report(tenant: str, rtid: str, n: int) -> dict[str, Any]:
    failed = n % 4 == 0
    return {
        "tenantId": tenant,
        "poolName": f"pool-{n % 3}",
        "workloadName": f"app-{rtid[-4:]}",
        "workloadRtId": rtid,
        "success": not failed,
        "statusMessage": (
            f"helm upgrade --install app failed with exit code 1. stderr: Error: UPGRADE "
            f"FAILED: timed out waiting for the condition (attempt {n})"
            if failed
            else None
        ),
    }


def _rtid(group: int, n: int) -> str:
    return f"{group:08x}{n:016x}"


def seed(url: str, workloads: int, attempts: int) -> None:
    with Ledger.open(url) as ledger:
        for round_ in range(attempts):
            batch = [
                _report(TENANTS[w % len(TENANTS)], _rtid(0, w), round_ * workloads + w)
                for w in range(workloads)
            ]
            ledger.record_many(batch)
        ledger.catch_up()


QUERIES: tuple[Callable[[Ledger], object], ...] = (
    lambda ledger: ledger.workloads(),
    lambda ledger: ledger.audit(limit=50),
    lambda ledger: ledger.failures(since=timedelta(days=1)),
    lambda ledger: ledger.stats(since=timedelta(days=30)),
)


def _read_loop(url: str, read_url: str | None, sync: Any, counts: Any, index: int) -> None:
    ready, go, stop, pause = sync
    done = 0
    try:
        with Ledger.open(url, read_url=read_url) as ledger:
            for query in QUERIES:  # connect and warm up before the clock starts
                query(ledger)
            with ready.get_lock():
                ready.value += 1
            go.wait()
            while not stop.is_set():
                for query in QUERIES:
                    query(ledger)
                    done += 1
                    stop.wait(pause)
    except Exception as e:  # a reader's failure is shown, never hidden in a zero
        print(f"reader {index}: {type(e).__name__}: {e}", file=sys.stderr)
        with ready.get_lock():
            ready.value += 1
    counts[index] = done


def readers(url: str, read_url: str | None, sync: Any, counts: Any) -> None:
    """The reader process: `READERS` threads, each warm, then querying from `go` to `stop`."""
    threads = [
        threading.Thread(target=_read_loop, args=(url, read_url, sync, counts, i))
        for i in range(READERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def measure(
    ledger: Ledger, primary: str, read_url: str | None, seconds: float, run: int, pause: float
) -> tuple[float, float]:
    """Writer records per second and reader queries per second over `seconds`, with the
    readers on `read_url` (None: on the primary)."""
    context = multiprocessing.get_context("spawn")
    counts = context.Array("l", READERS)
    sync = (context.Value("i", 0), context.Event(), context.Event(), pause)
    process = context.Process(target=readers, args=(primary, read_url, sync, counts))
    process.start()
    deadline = time.monotonic() + 300
    while sync[0].value < READERS:
        if time.monotonic() > deadline or not process.is_alive():
            raise RuntimeError("the readers did not start")
        time.sleep(0.05)
    written = [0] * WRITERS
    sync[1].set()
    end = time.monotonic() + seconds

    def write(w: int) -> None:
        n = 0
        while time.monotonic() < end:
            rtid = _rtid(run * 100 + w + 1, n % 50)
            ledger.record(_report(TENANTS[w % len(TENANTS)], rtid, n))
            n += 1
        written[w] = n

    started = time.monotonic()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    sync[2].set()
    process.join(timeout=120)
    return sum(written) / took, sum(counts[:]) / took


def follow(url: str, stop: Any) -> None:
    """The follower process: keep the primary's read model live until `stop`."""
    with Ledger.open(url) as ledger:
        ledger.follow(stop, poll_interval=0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.standby", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--workloads", type=int, default=400, help="seeded workloads")
    parser.add_argument("--attempts", type=int, default=5, help="seeded attempts each")
    parser.add_argument(
        "--reader-pause",
        type=float,
        default=1.0,
        help="seconds each reader waits after each query (default 1: about 16 queries a "
        "second in all, which both sides sustain here, so the writers meet the same read "
        "load wherever the readers go; 0: as fast as they can)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    with ReplicatedPair.start(synchronous=False) as pair:
        pair.create_database("bench")
        primary, standby = pair.url("bench"), pair.standby.url("bench")
        with Ledger.open(primary, create=True):
            pass
        seed(primary, args.workloads, args.attempts)
        pair.wait_caught_up()
        print(
            f"seeded {args.workloads * args.attempts} reports in {time.monotonic() - started:.0f}s",
            file=sys.stderr,
        )
        context = multiprocessing.get_context("spawn")
        stop = context.Event()
        follower = context.Process(target=follow, args=(primary, stop))
        follower.start()
        with Ledger.open(primary) as ledger:
            rows = []
            try:
                for run in range(args.runs):
                    order = ("standby", "primary") if run % 2 == 0 else ("primary", "standby")
                    got: dict[str, tuple[float, float]] = {}
                    for where in order:
                        got[where] = measure(
                            ledger,
                            primary,
                            standby if where == "standby" else None,
                            args.seconds,
                            run * 2 + order.index(where),
                            args.reader_pause,
                        )
                    ratio = got["standby"][0] / got["primary"][0]
                    rows.append((got["standby"], got["primary"], ratio))
                    print(
                        f"run {run + 1}: writes/s {got['standby'][0]:.0f} (readers on the standby) "
                        f"vs {got['primary'][0]:.0f} (on the primary): {ratio:.2f}; reader "
                        f"queries/s {got['standby'][1]:.0f} vs {got['primary'][1]:.0f}",
                        file=sys.stderr,
                    )
            finally:
                stop.set()
                follower.join(timeout=60)
    median = statistics.median(r[2] for r in rows)
    print(
        f"| writers | readers | runs × s | writes/s, readers on standby | writes/s, readers on "
        f"primary | ratio (median) |\n|---|---|---|---|---|---|\n| {WRITERS} | {READERS} | "
        f"{args.runs} × {args.seconds:g} | "
        f"{statistics.median(r[0][0] for r in rows):.0f} | "
        f"{statistics.median(r[1][0] for r in rows):.0f} | {median:.2f} |"
    )
    print(
        f"reader queries/s (median): {statistics.median(r[0][1] for r in rows):.0f} on the "
        f"standby, {statistics.median(r[1][1] for r in rows):.0f} on the primary; commit "
        f"{commit}; {time.monotonic() - started:.0f}s in all"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
