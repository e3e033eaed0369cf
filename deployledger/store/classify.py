"""Failure fields for the set-based rebuild, computed beside the database's own work.

Categories and fingerprints are Python rules (`domain.failures`) that SQL cannot run. A
rebuild hands the outcomes that need them, in batches, to a thread of its own while it goes
on staging, folding and writing: those statements run in the database's C code (SQLite's
library, or the PostgreSQL server) with the GIL released, so the rules run meanwhile on the
other core. A small rebuild computes them in place. At most `PENDING_BYTES` of messages are
in flight, so memory stays bounded. (Worker processes were tried: they gain nothing on two
cores once the rules take their literal shortcut, and starting them without `fork` imports
the embedding program's main module again.)
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from deployledger.projections.project import failure_fields

BATCH = 1000
PENDING_BYTES = 32 * 1024 * 1024  # messages in flight at most (about)
POOL_AFTER = 2000  # outcomes to classify before the thread is worth starting
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


class Classifier:
    """Classify batches of outcomes, in a thread of their own once there are enough of them;
    `write(answers)` is called in this thread, in submission order."""

    def __init__(self, write: Callable[[list[Answer]], None]) -> None:
        self.write = write
        self.seen = 0
        self._pool: ThreadPoolExecutor | None = None
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
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="deployledger-failures")
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
        """Write every answer still in flight and stop the thread."""
        try:
            while self._pending:
                self._write_oldest()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the thread, dropping any answer still in flight (an interrupted rebuild)."""
        self._pending.clear()
        self._bytes = 0
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
