"""Group commit: many threads' writes appended by one thread, a batch per transaction.

eventsourcing's PostgreSQL recorder locks the events table for each insert, so that
positions commit in order, and SQLite has one writer: one commit at a time, each with its
own fsync. A `GroupWriter` gathers the calls that arrive while the previous batch commits
(as PostgreSQL's own WAL group flush, InnoDB's binlog group commit or Kafka's `linger.ms`
do), and appends them in one transaction:

- A batch closes when it holds `max_batch` messages, or `max_wait` seconds after its first
  call, whichever comes first. A call with nothing queued beside it is committed at once:
  one client never waits for a timer.
- Each call returns only after the commit that holds its messages, with the receipts it
  would have had alone. A call's messages are never split across transactions (an array
  stays all or nothing), and in one call they keep their order.
- One call's conflict fails that call alone (the ledger applies the others again without
  it); a store error fails the batch, and every call still queued behind it at once.
- The queue is bounded: a call that finds it full, or that waits past `timeout`, raises
  `StoreUnavailable` (HTTP 503 with Retry-After). A call that gave up before its batch
  began is never written.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from deployledger.domain.messages.inbox import Message, MessageInput
from deployledger.domain.workload.records import Receipt
from deployledger.errors import DeployLedgerError, InvalidQuery, StoreUnavailable

DEFAULT_BATCH = 256  # messages
DEFAULT_WAIT = 0.002  # seconds
DEFAULT_QUEUE = 1024  # calls

Answer = list[Receipt] | DeployLedgerError
Commit = Callable[[list[list[Message]]], list[Answer]]


@dataclass
class _Call:
    messages: list[Message]
    future: Future[list[Receipt]] = field(default_factory=Future)


_STOP = object()


class GroupWriter:
    """Append many threads' messages in shared transactions (see the module's doc)."""

    def __init__(
        self,
        commit: Commit,
        *,
        parse: Callable[[Iterable[MessageInput]], list[Message]],
        max_batch: int = DEFAULT_BATCH,
        max_wait: float = DEFAULT_WAIT,
        max_queue: int = DEFAULT_QUEUE,
        timeout: float = 15.0,
        on_commit: Callable[[int, float], None] | None = None,
    ) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise InvalidQuery(f"max_batch must be a whole number of at least 1, got {max_batch!r}")
        if not 0 <= max_wait <= 10:
            raise InvalidQuery(f"max_wait must be 0 to 10 seconds, got {max_wait!r}")
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise InvalidQuery(f"max_queue must be a whole number of at least 1, got {max_queue!r}")
        self._commit = commit
        self._parse = parse
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait, max_queue
        self.timeout = timeout
        self._on_commit = on_commit
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name="deployledger-group-commit", daemon=True
        )
        self._thread.start()

    # -- callers ---------------------------------------------------------------------

    def record(self, message: MessageInput) -> Receipt:
        """Store one message (see `Ledger.record`), in the next group's transaction."""
        return self.record_many([message])[0]

    def record_many(self, messages: Iterable[MessageInput]) -> list[Receipt]:
        """Store messages all or nothing (see `Ledger.record_many`), in the next group's
        transaction. Raises as `record_many` would, or `StoreUnavailable` when the queue
        is full or the commit did not come within `timeout` seconds."""
        parsed = self._parse(messages)
        if not parsed:
            return []
        return self.submit(parsed)

    def submit(self, messages: list[Message]) -> list[Receipt]:
        """Queue already parsed messages as one call and wait for their commit."""
        if self._closed:
            raise StoreUnavailable("the group-commit writer is closed")
        call = _Call(messages)
        try:
            self._queue.put_nowait(call)
        except queue.Full:
            raise StoreUnavailable(
                f"the write queue is full ({self.max_queue} calls waiting for a commit); "
                "retry shortly"
            ) from None
        try:
            return call.future.result(self.timeout)
        except FutureTimeout:
            call.future.cancel()  # never written if its batch has not begun
            raise StoreUnavailable(
                f"no commit within {self.timeout:g} s (the store is slow or down); "
                "retry with the same messageId"
            ) from None
        except CancelledError:
            raise StoreUnavailable("the group-commit writer was closed") from None

    def queued(self) -> int:
        """Calls waiting for a batch right now."""
        return self._queue.qsize()

    def close(self) -> None:
        """Commit what is queued, then stop the writing thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout=self.timeout + 5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the writing thread ----------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, stopping = self._gather(first)
            self._write([c for c in batch if c.future.set_running_or_notify_cancel()])

    def _gather(self, first: _Call) -> tuple[list[_Call], bool]:
        """The calls of one batch: `first`, and what queues up until the batch is full or
        `max_wait` after `first`; nothing more when nothing else was waiting."""
        batch, size = [first], len(first.messages)
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                left = deadline - time.monotonic()
                if len(batch) == 1 or left <= 0:
                    break
                try:
                    nxt = self._queue.get(timeout=left)
                except queue.Empty:
                    break
            if nxt is _STOP:
                return batch, True
            batch.append(nxt)
            size += len(nxt.messages)
        return batch, False

    def _write(self, batch: Sequence[_Call]) -> None:
        if not batch:
            return
        started = time.perf_counter()
        try:
            answers = self._commit([c.messages for c in batch])
        except DeployLedgerError as e:
            answers = [e] * len(batch)
        except BaseException as e:  # a bug: every caller hears of it, the thread goes on
            for call in batch:
                call.future.set_exception(e)
            return
        took = time.perf_counter() - started
        written = sum(
            len(c.messages)
            for c, a in zip(batch, answers, strict=True)
            if not isinstance(a, DeployLedgerError)
        )
        failed: StoreUnavailable | None = None
        for call, answer in zip(batch, answers, strict=True):
            if isinstance(answer, DeployLedgerError):
                call.future.set_exception(answer)
                if isinstance(answer, StoreUnavailable):
                    failed = answer
            else:
                call.future.set_result(answer)
        if failed is not None:
            self._fail_queued(failed)
        if self._on_commit is not None and written:
            with contextlib.suppress(Exception):  # a metrics hook never stops the writer
                self._on_commit(written, took)

    def _fail_queued(self, error: StoreUnavailable) -> None:
        """The store is down: every call already queued fails now, not one timeout later."""
        while True:
            try:
                call = self._queue.get_nowait()
            except queue.Empty:
                return
            if call is _STOP:
                self._queue.put(_STOP)
                return
            if call.future.set_running_or_notify_cancel():
                call.future.set_exception(error)
