"""Failure fields for the set-based rebuild, computed beside the database's own work.

Categories and fingerprints are Python rules (`domain.failures`) that SQL cannot run. A
rebuild hands the outcomes that need them, in batches, to workers while it goes on staging,
folding and writing; a small rebuild computes them in place. The workers are forked
processes when this process has a single thread (forking is fast and imports nothing), else
one thread: forking a threaded process (PostgreSQL's connection pool runs threads) can
deadlock, and the other start methods import the embedding program's main module again. A
thread still overlaps the SQL, which runs in C with the GIL released. At most
`PENDING_BYTES` of messages are in flight, so memory stays bounded.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from deployledger.projections.project import failure_fields

BATCH = 1000
PENDING_BYTES = 32 * 1024 * 1024  # messages in flight at most (about)
POOL_AFTER = 2000  # outcomes to classify before workers are worth starting
Row = tuple[int, bool, str | None]  # position, success, exact message
Answer = dict[str, Any]


CACHED_SIZE = 4096  # messages up to this many characters are remembered (a helm error repeats)
_cached = functools.lru_cache(maxsize=4096)(failure_fields)


def classify(rows: list[Row]) -> list[Answer]:
    """The failure-field rows of those outcomes that have any."""
    out = []
    for position, success, message in rows:
        small = message is None or len(message) <= CACHED_SIZE
        fields = _cached if small else failure_fields
        operation, exit_code, category, fingerprint = fields(success, message)
        if operation is not None or category is not None:
            out.append(
                {
                    "position": position,
                    "helm_operation": operation,
                    "exit_code": exit_code,
                    "category": category,
                    "fingerprint": fingerprint,
                }
            )
    return out


def _workers() -> Executor:
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        context = multiprocessing.get_context("fork")
        return ProcessPoolExecutor(max(1, min(4, os.cpu_count() or 1)), mp_context=context)
    return ThreadPoolExecutor(1, thread_name_prefix="deployledger-failures")


class Classifier:
    """Classify batches of outcomes, in workers once there are enough of them;
    `write(answers)` is called in this thread, in submission order."""

    def __init__(self, write: Callable[[list[Answer]], None]) -> None:
        self.write = write
        self.seen = 0
        self._pool: Executor | None = None
        self._pending: deque[tuple[Future[list[Answer]], int]] = deque()
        self._bytes = 0

    def submit(self, rows: list[Row]) -> None:
        if not rows:
            return
        self.seen += len(rows)
        if self._pool is None and self.seen < POOL_AFTER:
            self.write(classify(rows))
            return
        if self._pool is None:
            self._pool = _workers()
        size = sum(len(m or "") for _, _, m in rows)
        self._pending.append((self._pool.submit(classify, rows), size))
        self._bytes += size
        while self._pending and (self._bytes > PENDING_BYTES or self._pending[0][0].done()):
            self._write_oldest()

    def _write_oldest(self) -> None:
        future, size = self._pending.popleft()
        self._bytes -= size
        self.write(future.result())

    def finish(self) -> None:
        """Write every answer still in flight and stop the workers."""
        try:
            while self._pending:
                self._write_oldest()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the workers, dropping any answer still in flight (an interrupted rebuild)."""
        self._pending.clear()
        self._bytes = 0
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
