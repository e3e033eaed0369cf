"""Helpers for the integration tests: report builders, and workers for child processes.

Workers live here, in an importable module, because "spawn" children import them by name.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import traceback
from collections.abc import Callable
from typing import Any

from deployledger import Ledger

TENANT = "t1"
RT_ID = "64f1c0ffee0000000000beef"
PASSWORD = "s3cret" + "pw"  # built, so that no traceback source line shows it whole


def report(**overrides: Any) -> dict[str, Any]:
    """A valid camelCase report; `overrides` replace fields (a value of ... drops the key)."""
    data: dict[str, Any] = {
        "tenantId": TENANT,
        "poolName": "pool-a",
        "workloadName": "billing-api",
        "workloadRtId": RT_ID,
        "success": True,
        "statusMessage": None,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def with_password(url: str, password: str = PASSWORD) -> str:
    """The same PostgreSQL URL with a password (the test server trusts, so it is ignored)."""
    scheme, rest = url.split("://", 1)
    userinfo, hostpart = rest.split("@", 1)
    return f"{scheme}://{userinfo.split(':', 1)[0]}:{password}@{hostpart}"


def record_in_child(url: str, count: int, worker: int, barrier: Any, errors: Any) -> None:
    """Open a Ledger of its own, wait for the others, then record `count` reports."""
    try:
        with Ledger.open(url) as ledger:
            barrier.wait(timeout=60)
            for n in range(count):
                ledger.record(report(messageId=f"w{worker}-{n}", success=n % 3 != 0))
    except BaseException:
        errors.put(f"worker {worker}: {traceback.format_exc()}")
        raise


def open_with_create_in_child(url: str, worker: int, barrier: Any, errors: Any) -> None:
    """Wait for the others, then open the store with create=True."""
    try:
        barrier.wait(timeout=60)
        with Ledger.open(url, create=True):
            pass
    except BaseException:
        errors.put(f"worker {worker}: {traceback.format_exc()}")
        raise


def run_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run `work(i)` in `count` threads started together; return what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(i)
        except BaseException as e:  # collected, asserted on below
            errors.append(e)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer thread hung"
    return errors


def run_processes(count: int, target: Callable[..., None], *args: object) -> list[str]:
    """Run `target(*args, i, barrier, errors)` in `count` spawned processes; return errors."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(count)
    errors = ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(*args, i, barrier, errors), daemon=True)
        for i in range(count)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    hung = [p for p in procs if p.is_alive()]
    for proc in hung:
        proc.kill()
        proc.join()
    found = []
    while True:
        try:
            found.append(errors.get(timeout=0.1))
        except queue.Empty:
            break
    errors.close()
    errors.join_thread()
    assert not hung, f"{len(hung)} writer process(es) hung"
    assert all(p.exitcode == 0 for p in procs) or found, "a process died without a report"
    return found


THREADED_OPEN = """
import sys, threading
from deployledger import Ledger

errors = []
for round_ in range(int(sys.argv[2])):
    url = f"sqlite:///{sys.argv[1]}/round{round_}.db?lock_timeout=1"
    barrier = threading.Barrier(8)

    def open_store():
        barrier.wait()
        try:
            with Ledger.open(url):
                pass
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit("\\n".join(errors))
"""
