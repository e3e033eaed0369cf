"""Notification sinks: settings (`Ledger.sinks`) and the delivery workers.

Each sink has its own worker thread and its own cursor, so a slow or dead receiver never
slows recording, the projection, or another sink. A worker sends the sink's matching events
in position order (so in order per workload), one at a time, and moves the cursor in the
same transaction as its bookkeeping (see `deployledger.store.sinks`): at least once, each
delivery with a stable id (the event's position). A failed delivery is retried with
exponential backoff and jitter; after `max_attempts` failures it becomes a dead letter and
the cursor moves on; `retry()` asks for the dead letters to be sent again.

The payloads are built above this layer (`deployledger.presentation.sinks.outgoing`) and
handed to `run`/`deliver` as `render`.
"""

from __future__ import annotations

import builtins
import http.client
import logging
import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from deployledger.domain.sinks import (
    CDEVENTS_SPECS,
    DEFAULT_BACKOFF,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT,
    DeadLetter,
    DeliveryItem,
    Outgoing,
    Sink,
    SinkFilter,
    backoff_delay,
    check_kind,
    check_name,
    check_spec,
    check_url,
)
from deployledger.errors import DeployLedgerError, InvalidQuery

log = logging.getLogger("deployledger.sinks")
Render = Callable[[Sink, DeliveryItem], Outgoing | None]
BATCH = 500  # deliveries read per query
COMMIT_EVERY = 100  # deliveries per cursor commit (at most this many are sent again)
COMMIT_SECONDS = 0.5  # ... or this long since the last commit
REFRESH_SECONDS = 2.0  # how often `run` looks for added sinks
SETTINGS_SECONDS = 1.0  # how often a worker reads its sink's row back
LINGER_SECONDS = 0.02  # after a wake-up, so that one batch takes the events of a burst


class SinkStorePort(Protocol):
    def add(self, sink: Sink) -> None: ...
    def all(self) -> list[Sink]: ...
    def get(self, name: str) -> Sink | None: ...
    def remove(self, name: str) -> bool: ...
    def read_position(self) -> int: ...
    def pending(self, after: int, upto: int, limit: int) -> tuple[list[DeliveryItem], int]: ...
    def at(self, positions: list[int]) -> list[DeliveryItem]: ...
    def advance(self, name: str, position: int, delivered: int) -> None: ...
    def failed(
        self,
        name: str,
        position: int,
        delivered: int,
        failures: int,
        error: str,
        retry_at: datetime,
    ) -> None: ...
    def dead(
        self, name: str, item: DeliveryItem, delivered: int, attempts: int, error: str
    ) -> None: ...
    def dead_letters(
        self, name: str | None = None, *, retry_only: bool = False
    ) -> list[DeadLetter]: ...
    def ask_retry(self, name: str, position: int | None = None) -> int: ...
    def redelivered(self, name: str, position: int) -> None: ...
    def still_dead(self, name: str, position: int, attempts: int, error: str) -> None: ...
    def lead(
        self, name: str, stop: threading.Event, *, wait: bool = True
    ) -> AbstractContextManager[bool]: ...
    def close(self) -> None: ...


class DeliveryFailed(Exception):
    """One delivery attempt failed (a connection error, a timeout, a non-2xx answer)."""


class Sender:
    """POSTs over kept-alive connections, one per (scheme, host, port)."""

    def __init__(self) -> None:
        self._connections: dict[tuple[str, str, int | None], http.client.HTTPConnection] = {}

    def post(self, out: Outgoing, timeout: float) -> int:
        parts = urlsplit(out.url)
        key = (parts.scheme, parts.hostname or "", parts.port)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn = self._connections.get(key)
        if conn is None:
            kind = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = kind(parts.hostname or "", parts.port, timeout=timeout)
            self._connections[key] = conn
        conn.timeout = timeout
        try:
            conn.request("POST", path, body=out.body, headers=out.headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as e:
            self._drop(key)
            raise DeliveryFailed(
                f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            ) from None
        if response.will_close:
            self._drop(key)
        if not 200 <= response.status < 300:
            raise DeliveryFailed(f"HTTP {response.status} {response.reason}".strip())
        return response.status

    def _drop(self, key: tuple[str, str, int | None]) -> None:
        conn = self._connections.pop(key, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for key in list(self._connections):
            self._drop(key)


class Sinks:
    """The notification sinks of a store: add, list, remove, status, retry, and deliver."""

    def __init__(self, store: SinkStorePort, top: Callable[[], int]) -> None:
        self._store = store
        self._top = top
        self._news = _News()

    def nudge(self) -> None:
        """New events reached the read model: idle workers of this process look at once
        (the follower calls this after each batch; others find them by polling)."""
        self._news.announce()

    # -- settings ----------------------------------------------------------------------

    def add(
        self,
        name: str,
        *,
        url: str,
        kind: str,
        secret: str | None = None,
        filter: str | SinkFilter | None = None,
        spec: str = CDEVENTS_SPECS[0],
        slack_text: bool = False,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
        timeout: float = DEFAULT_TIMEOUT,
        from_position: int | None = None,
    ) -> Sink:
        """Add a sink. It receives the events recorded from now on, or those at position
        `from_position` and later. `InvalidQuery` (listing the problem) for bad settings;
        nothing is stored then."""
        check_name(name)
        check_kind(kind)
        check_url(url)
        chosen = filter if isinstance(filter, SinkFilter) else SinkFilter.parse(filter)
        spec = check_spec(spec)
        if secret is not None and (not secret or secret != secret.strip()):
            raise InvalidQuery("a sink secret must be non-empty, without surrounding whitespace")
        if max_attempts < 1 or max_attempts > 1000:
            raise InvalidQuery(f"max attempts must be 1 to 1000, got {max_attempts}")
        for what, value in (("backoff", backoff), ("timeout", timeout)):
            if not 0 < value <= 3600:
                raise InvalidQuery(f"{what} must be above 0 and at most 3600 seconds, got {value}")
        if from_position is not None and from_position < 0:
            raise InvalidQuery(f"from position must not be negative, got {from_position}")
        start = self._top() if from_position is None else max(0, from_position - 1)
        sink = Sink(
            name=name,
            kind=kind,
            url=url,
            filter=chosen,
            spec=spec,
            slack_text=slack_text,
            max_attempts=max_attempts,
            backoff=backoff,
            timeout=timeout,
            secret=secret,
            position=start,
            created_at=datetime.now(UTC),
        )
        self._store.add(sink)
        return sink

    def list(self) -> builtins.list[Sink]:
        """Every sink with where its delivery stands (lag in events, dead letters)."""
        top = self._top()
        found = self._store.all()
        return [_with_lag(s, top) for s in found]

    def get(self, name: str) -> Sink:
        found = self._store.get(name)
        if found is None:
            raise InvalidQuery(f"no sink is named {name!r} (see `sink list`)")
        dead = len(self._store.dead_letters(name))
        return _with_lag(_replace(found, dead_letters=dead), self._top())

    def remove(self, name: str) -> None:
        if not self._store.remove(name):
            raise InvalidQuery(f"no sink is named {name!r} (see `sink list`)")

    def dead_letters(self, name: str | None = None) -> builtins.list[DeadLetter]:
        if name is not None:
            self.get(name)
        return self._store.dead_letters(name)

    def retry(self, name: str, position: int | None = None) -> int:
        """Ask for the sink's dead letters (or the one at `position`) to be sent again by
        its worker; return how many."""
        self.get(name)
        return self._store.ask_retry(name, position)

    def close(self) -> None:
        self._store.close()

    # -- delivery ----------------------------------------------------------------------

    def deliver(
        self,
        render: Render,
        *,
        names: builtins.list[str] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """Deliver what is pending now for every sink (or `names`), dead letters asked to be
        sent again included, then return (`sink deliver --once`): a call never sleeps
        through a backoff (a failed delivery whose retry is not due yet is a later call's;
        after `max_attempts` failures it is a dead letter), so a sink that is down never
        holds the call. A sink another process delivers for (it holds the sink's lock) is left to
        it."""
        stop = stop or threading.Event()
        for sink in self._store.all():
            if names is None or sink.name in names:
                _Worker(self._store, sink.name, render, stop, once=True, news=self._news).run()

    def run(
        self,
        stop: threading.Event,
        render: Render,
        *,
        poll_interval: float = 1.0,
        on_error: Callable[[str, Exception], None] | None = None,
    ) -> None:
        """Deliver for every sink, each in its own thread, until `stop` is set; sinks added
        meanwhile are picked up within a few seconds, removed ones stop."""
        workers: dict[str, threading.Thread] = {}
        said: str | None = None
        try:
            while not stop.is_set():
                try:
                    names = [s.name for s in self._store.all()]
                    said = None
                except DeployLedgerError as e:
                    if str(e) != said and on_error is not None:
                        on_error("*", e)
                    said = str(e)
                    names = []
                for name in names:
                    worker = workers.get(name)
                    if worker is None or not worker.is_alive():
                        w = _Worker(
                            self._store,
                            name,
                            render,
                            stop,
                            poll=poll_interval,
                            on_error=on_error,
                            news=self._news,
                        )
                        thread = threading.Thread(
                            target=w.run, name=f"deployledger-sink-{name}", daemon=True
                        )
                        thread.start()
                        workers[name] = thread
                stop.wait(REFRESH_SECONDS)
        finally:
            for thread in workers.values():
                thread.join(timeout=10)


class _News:
    """A count of announcements that waiters can wait on, a slice at a time."""

    def __init__(self) -> None:
        self._count = 0
        self._condition = threading.Condition()

    @property
    def count(self) -> int:
        return self._count

    def announce(self) -> None:
        with self._condition:
            self._count += 1
            self._condition.notify_all()

    def wait(self, seen: int, stop: threading.Event, timeout: float) -> None:
        """Until an announcement after `seen`, `stop`, or `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._count == seen and not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._condition.wait(min(left, 0.05))


def _replace(sink: Sink, **changes: object) -> Sink:
    return replace(sink, **changes)  # type: ignore[arg-type]


def _with_lag(sink: Sink, top: int) -> Sink:
    return _replace(sink, lag_events=max(0, top - sink.position))


class _Worker:
    """Delivers for one sink: leads (PostgreSQL: its advisory lock), then sends."""

    def __init__(
        self,
        store: SinkStorePort,
        name: str,
        render: Render,
        stop: threading.Event,
        *,
        once: bool = False,
        poll: float = 1.0,
        on_error: Callable[[str, Exception], None] | None = None,
        news: _News | None = None,
    ) -> None:
        self.news = news or _News()
        self.store = store
        self.name = name
        self.render = render
        self.stop = stop
        self.once = once
        self.poll = poll
        self.on_error = on_error
        self.sender = Sender()
        self.random = random.Random()
        self.held: tuple[int, int] | None = None  # delivered up to here, not yet committed
        self.cursor = 0  # the cursor as this worker last committed it
        self.committed = time.monotonic()

    def run(self) -> None:
        said: str | None = None
        try:
            while not self.stop.is_set():
                try:
                    with self.store.lead(self.name, self.stop, wait=not self.once) as leading:
                        if leading:
                            try:
                                self._deliver()
                            finally:
                                self._flush_quietly()
                    return
                except DeployLedgerError as e:
                    if self.once:
                        raise
                    if str(e) != said:
                        self._error(e)
                    said = str(e)
                except Exception as e:  # a bug: keep delivering, and say it
                    if self.once:
                        raise
                    self._error(e)
                self.stop.wait(1.0)
        finally:
            self.sender.close()

    def _flush_quietly(self) -> None:
        try:
            self._flush()
        except DeployLedgerError as e:  # the store is gone: those are sent again later
            self.held = None
            self._error(e)

    def _error(self, e: Exception) -> None:
        if self.on_error is not None:
            self.on_error(self.name, e)
        else:
            log.warning("sink %s: %s", self.name, e)

    def _deliver(self) -> None:
        sink: Sink | None = None
        fetched = 0.0
        while not self.stop.is_set():
            seen = self.news.count
            if sink is None or time.monotonic() - fetched > SETTINGS_SECONDS:
                # The sink's row (settings, failures, dead letters asked to be sent again)
                # is read once a second, not on every wake-up.
                sink = self.store.get(self.name)
                fetched = time.monotonic()
                if sink is None:
                    return  # removed
                self._replay(sink)
                if sink.next_try_at is not None:
                    wait = (sink.next_try_at - datetime.now(UTC)).total_seconds()
                    if wait > 0:
                        if self.once:
                            return  # its retry is due later: the next run's
                        self.stop.wait(wait)
                        sink = None
                        continue
            outcome = self._step(sink)
            if outcome == "failed":
                sink = None  # read the failures and the cursor back
            elif outcome == "sent":
                sink = replace(sink, failures=0, next_try_at=None)
            else:
                if self.once:
                    return
                self.news.wait(seen, self.stop, self.poll)
                if self.news.count != seen:
                    self.stop.wait(LINGER_SECONDS)  # let a few more events arrive

    def _send(self, sink: Sink, out: Outgoing) -> str | None:
        """None once sent, else why not."""
        try:
            self.sender.post(out, sink.timeout)
            return None
        except DeliveryFailed as e:
            return str(e)

    def _step(self, sink: Sink) -> str:
        """Deliver one batch: "idle" if there was nothing to do, "failed" if a delivery
        failed (the sink's row changed), else "sent".

        The cursor is committed every `COMMIT_EVERY` deliveries, else at most every
        `COMMIT_SECONDS` (idle or not), and at every failure, dead letter and stop: not
        after every small batch, which on SQLite would queue `record()` behind the
        sinks' commits. What a crash loses is sent again, with the same ids."""
        start, delivered = max(sink.position, self.cursor), 0
        if self.held is not None and self.held[0] >= start:
            start, delivered = self.held
        upto = self.store.read_position()
        items, end = self.store.pending(start, upto, BATCH)
        if end <= start:
            if self.once or time.monotonic() - self.committed > COMMIT_SECONDS:
                self._flush()
            return "idle"
        name, store = sink.name, self.store
        done, failures, failed = start, sink.failures, False
        for item in items:
            out = self.render(sink, item) if sink.filter.matches(item) else None
            if out is not None:
                while True:
                    error = self._send(sink, out)
                    if error is None:
                        delivered += 1
                        failures = 0
                        break
                    failures += 1
                    failed = True
                    self.held = None
                    self.committed = time.monotonic()
                    if failures >= sink.max_attempts:
                        store.dead(name, item, delivered, failures, error)
                        log.warning("sink %s: dead letter at %d: %s", name, item.position, error)
                        self.cursor = item.position
                        delivered, failures = 0, 0
                        break
                    delay = backoff_delay(failures, sink.backoff, self.random.random())
                    retry_at = datetime.now(UTC) + timedelta(seconds=delay)
                    store.failed(name, done, delivered, failures, error, retry_at)
                    self.cursor = done
                    delivered = 0
                    if self.once or self.stop.wait(delay):
                        return "failed"  # once: the retry is the next run's, after its backoff
            done = item.position
            self.held = (done, delivered)
            if self.stop.is_set():
                self._flush()
                return "failed" if failed else "sent"
            if delivered >= COMMIT_EVERY or time.monotonic() - self.committed > COMMIT_SECONDS:
                self._flush()
                delivered = 0
        self.held = (end, delivered)
        if self.once or time.monotonic() - self.committed > COMMIT_SECONDS:
            self._flush()
        return "failed" if failed else "sent"

    def _flush(self) -> None:
        """Commit the cursor (and the deliveries counted) held in memory, if any."""
        if self.held is not None:
            position, delivered = self.held
            self.store.advance(self.name, position, delivered)
            self.cursor = max(self.cursor, position)
            self.held = None
        self.committed = time.monotonic()

    def _replay(self, sink: Sink) -> None:
        letters = self.store.dead_letters(sink.name, retry_only=True)
        if not letters:
            return
        items = self.store.at([d.position for d in letters])
        found = {item.position for item in items}
        for letter in letters:
            if letter.position not in found:  # no such event in the read model (any more)
                self.store.still_dead(sink.name, letter.position, 0, "no such event to send")
        for item in items:
            out = self.render(sink, item)
            error: str | None = None
            tries = 0
            if out is not None:
                limit = 1 if self.once else sink.max_attempts
                while tries < limit and not self.stop.is_set():
                    tries += 1
                    error = self._send(sink, out)
                    if error is None:
                        break
                    if tries < limit:
                        self.stop.wait(backoff_delay(tries, sink.backoff, self.random.random()))
            if error is None and not self.stop.is_set():
                self.store.redelivered(sink.name, item.position)
            else:
                self.store.still_dead(sink.name, item.position, tries, error or "stopped")
