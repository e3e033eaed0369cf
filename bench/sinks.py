"""`python -m bench.sinks [--store URL]`: what notification sinks cost, and their lag.

Three sinks (webhook, cdevents, grafana) post to local receivers on 127.0.0.1 that answer
200 at once, in a process of their own (so that they take no GIL from `record()`). The
delivering process is a real `deployledger project --follow` (a separate process, as
deployed), with `--poll-interval` 0.1 s.

- **Delivery lag**: outcomes recorded at `--rate` per second for `--seconds`, one
  `record()` each; the lag of a delivery is from `record()` returning (its commit) to the
  receiver taking the request. p50 and p99 per sink.
- **Cost to `record()`**: the time of `--writes` single `record()` calls while the follower
  runs with `--no-sinks`, then with the three sinks delivering; the ratio is the cost.
- **The follower's cost**: how long after the last write the read model (and the sinks)
  are caught up, and the follower process's CPU seconds, in each case.

Not part of `python -m bench all`: run it on its own. The store is a new SQLite file unless
`--store` names an (empty, migrated) PostgreSQL database.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from deployledger import Ledger

CLI = str(Path(sys.executable).with_name("deployledger"))


def _serve(log_path: str, ports: Any) -> None:
    """The receivers' process: answers 200, appends `path id time` per request."""
    out = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the process's life

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            out.write(f"{self.path} {self.headers['X-Deployledger-Delivery']} {time.time()}\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ports.put(server.server_address[1])
    server.serve_forever()


@contextmanager
def receiver(log_path: str) -> Iterator[str]:
    """Receivers in a process of their own, so that they take no GIL from `record()`."""
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    process = context.Process(target=_serve, args=(log_path, ports), daemon=True)
    process.start()
    try:
        yield f"http://127.0.0.1:{ports.get(timeout=30)}"
    finally:
        process.terminate()
        process.join(timeout=10)


def arrivals(log_path: str) -> dict[tuple[str, int], float]:
    found: dict[tuple[str, int], float] = {}
    for line in Path(log_path).read_text().splitlines():
        path, position, at = line.split()
        found.setdefault((path, int(position)), float(at))
    return found


def outcome(i: int) -> dict[str, Any]:
    return {
        "tenantId": "bench",
        "workloadRtId": f"64f1c0ffee00000000{i % 200:06x}",
        "workloadName": f"w{i % 200}",
        "poolName": "pool-1",
        "success": i % 5 != 0,
        "statusMessage": None if i % 5 else f"Error: UPGRADE FAILED: {i}",
    }


@contextmanager
def follower(store: str, sinks: bool) -> Iterator[None]:
    args = [CLI, "--store", store, "project", "--follow", "--poll-interval", "0.1"]
    proc = subprocess.Popen(
        [*args, *([] if sinks else ["--no-sinks"])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.5)  # started and leading
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def wait_until(ledger: Ledger, position: int, *, sinks: bool, timeout: float = 120) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        done = ledger.read_position() >= position
        if sinks:
            done = done and all(s.position >= position for s in ledger.sinks.list())
        if done:
            return time.monotonic() - start
        time.sleep(0.01)
    raise SystemExit(f"not caught up with position {position} after {timeout}s")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="an empty, migrated PostgreSQL database (default: SQLite)")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--writes", type=int, default=2000)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = options.store or f"sqlite:///{tmp}/bench.db"
        log_path = f"{tmp}/arrivals.log"
        with receiver(log_path) as url, Ledger.open(store, create=True) as ledger:
            results: dict[str, Any] = {"store": "postgresql" if options.store else "sqlite"}
            # record() cost and follower catch-up, without and with the three sinks,
            # alternately (twice each), so that warm-up and drift fall on both sides
            ledger.sinks.add("webhook", url=url + "/hook", kind="webhook", secret="k")
            ledger.sinks.add("cdevents", url=url + "/ce", kind="cdevents")
            ledger.sinks.add("grafana", url=url, kind="grafana", secret="k")
            runs: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
            for with_sinks in (False, True, False, True):
                cpu = _children_cpu()
                with follower(store, with_sinks):
                    start = time.perf_counter()
                    last = 0
                    for i in range(options.writes):
                        last = ledger.record(outcome(i)).position
                    took = time.perf_counter() - start
                    caught = wait_until(ledger, last, sinks=with_sinks)
                used = _children_cpu() - cpu  # the follower's CPU, start-up included
                runs[with_sinks].append((took / options.writes * 1000, caught, used))
            for with_sinks, key in ((False, "no_sinks"), (True, "with_3_sinks")):
                results[key] = {
                    "record_ms": round(statistics.mean(r[0] for r in runs[with_sinks]), 3),
                    "caught_up_after_s": round(statistics.mean(r[1] for r in runs[with_sinks]), 3),
                    "follower_cpu_s": round(statistics.mean(r[2] for r in runs[with_sinks]), 3),
                }
            results["record_cost_ratio"] = round(
                results["with_3_sinks"]["record_ms"] / results["no_sinks"]["record_ms"], 3
            )
            # delivery lag at a steady rate
            with follower(store, True):
                committed: dict[int, float] = {}
                interval = 1.0 / options.rate
                count = int(options.rate * options.seconds)
                start = time.monotonic()
                last = 0
                for i in range(count):
                    due = start + i * interval
                    pause = due - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    last = ledger.record(outcome(i)).position
                    committed[last] = time.time()
                achieved = count / (time.monotonic() - start)
                wait_until(ledger, last, sinks=True)
            arrived = arrivals(log_path)
            lag: dict[str, Any] = {"achieved_rate": round(achieved, 1)}
            for path in ("/hook", "/ce", "/api/annotations"):
                seconds = [
                    arrived[(path, p)] - t for p, t in committed.items() if (path, p) in arrived
                ]
                lag[path] = {
                    "deliveries": len(seconds),
                    "p50_ms": round(statistics.median(seconds) * 1000, 1),
                    "p99_ms": round(pct(seconds, 0.99) * 1000, 1),
                }
            results["lag"] = lag
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
