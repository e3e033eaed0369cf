"""The facade a controller embeds: record reports, read state and history.

```python
from deployledger import Ledger
with Ledger.open("sqlite:///ledger.db") as ledger:
    receipt = ledger.record(report)          # model, dict, or JSON str/bytes
    state = ledger.current("t1", "64f1c0ffee0000000000beef")
```
The logic here (duplicates, the optimistic retry, the cache) runs over two ports,
`EventStorePort` and `ReadModelPort`; `deployledger.service.bootstrap` wires the real ones.
"""

from __future__ import annotations

import copy
import heapq
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from deployledger.domain.arguments import (
    MAX_PAGE,
    check_category,
    check_duration,
    check_limit,
    check_period,
    check_tenants,
    check_texts,
    check_time,
)
from deployledger.domain.auditfilter import AuditFilter
from deployledger.domain.insights.failure_groups import FailureGroup, ReclassifyResult
from deployledger.domain.insights.stats import GROUPINGS, DeliveryStats
from deployledger.domain.messages.inbox import Message, MessageInput, parse_messages
from deployledger.domain.messages.reports import DEFAULT_MAX_MESSAGE_BYTES
from deployledger.domain.storeurl import StoreServer, StoreURL
from deployledger.domain.tlog.checkpoints import (
    SignedCheckpoint,
    SigningKey,
    VerifierKey,
)
from deployledger.domain.tlog.report import InclusionProof, VerifyReport
from deployledger.domain.workload.aggregate import workload_id
from deployledger.domain.workload.records import (
    Attempt,
    AuditPage,
    Overdue,
    RebuildResult,
    Receipt,
    TimelineEntry,
    WorkloadState,
)
from deployledger.domain.workload.state import DeploymentState
from deployledger.errors import (
    InvalidQuery,
    StoreUnavailable,
    WorkloadNotFound,
)
from deployledger.service import answers, bootstrap, groupcommit, logbook
from deployledger.service.cache import DEFAULT_CACHE_SIZE, WorkloadCache
from deployledger.service.groupcommit import Answer, GroupWriter
from deployledger.service.log import Log
from deployledger.service.ports import EventStorePort, ReadModelPort, StandbyPort
from deployledger.service.sinks import Sinks
from deployledger.service.tokens import Tokens
from deployledger.service.writing import Appender

DEFAULT_SNAPSHOT_INTERVAL = 200

DEFAULT_OVERDUE = timedelta(minutes=15)
DEFAULT_READ_WAIT = 2.0  # seconds a read with a minimum position waits for the standby


class Ledger:
    """Every deployment message kept as an immutable event, per workload: deploy requests,
    progress, outcomes (the status reports) and undeploys.

    Thread-safe: one `Ledger` may be shared by all threads of a process.
    Several processes may write to the same store; concurrency is optimistic,
    per workload, and retried internally.
    """

    def __init__(
        self,
        events: EventStorePort,
        read_model: ReadModelPort,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        reject_oversized: bool = False,
        cache_size: int = DEFAULT_CACHE_SIZE,
        tokens: Tokens | None = None,
        standby: StandbyPort | None = None,
        read_wait: float = DEFAULT_READ_WAIT,
        sinks: Sinks | None = None,
    ) -> None:
        self._store = events
        self._sinks = sinks
        self._read_model = read_model
        self._standby = standby
        self.read_wait = _check_wait(read_wait, "read_wait")
        self._owner = True
        # Where queries go: the standby's events and read model, if there is one.
        self._read_from = "primary" if standby is None else "standby"
        self._tokens = tokens
        self.max_message_bytes = max_message_bytes
        self.reject_oversized = reject_oversized
        self._cache = WorkloadCache(cache_size)
        self._appender = Appender(events, self._cache)
        self._log = Log(read_model)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        create: bool | None = None,
        lock_timeout: float | None = None,
        connect_timeout: float | None = None,
        max_message_bytes: int | None = None,
        reject_oversized: bool = False,
        snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
        cache_size: int = DEFAULT_CACHE_SIZE,
        read_model_url: str | None = None,
        read_url: str | None = None,
        read_wait: float = DEFAULT_READ_WAIT,
    ) -> Ledger:
        """Open the store at `url` (`sqlite:///path.db` or `postgresql://user@host:port/db`).

        `create` creates the schema if it is missing. It defaults to true for SQLite
        (embedded, zero set-up) and false for PostgreSQL, where the schema is created
        once (`deployledger migrate`) and workers open with table creation off.
        `lock_timeout` (seconds) bounds every wait for a lock: past it, `StoreUnavailable`.
        `max_message_bytes` (default: the URL's `max_message_bytes` setting, else 1 MiB) is
        the largest status message kept whole: a longer one is stored with its middle cut
        out and `message_truncated` set, or refused (`InvalidReport`) with `reject_oversized`.
        `read_model_url` keeps the read model in another database (default: the same one).
        `read_url` is a streaming standby of the (PostgreSQL) store: every query then reads
        the events and the replicated read model there, while writes, the follower, rebuild
        and the log stay on the store; see `reading()` for read-your-writes, and
        `replica_lag()`. `read_wait` is how long `reading(min_position)` waits for it.
        Raises `InvalidStoreURL` for a URL or setting that cannot be used.
        """
        _check_wait(read_wait, "read_wait")  # before anything is opened
        parts = bootstrap.wire(
            url,
            create=create,
            lock_timeout=lock_timeout,
            connect_timeout=connect_timeout,
            max_message_bytes=max_message_bytes,
            snapshot_interval=snapshot_interval,
            cache_size=cache_size,
            read_model_url=read_model_url,
            read_url=read_url,
        )
        return cls(
            parts.events,
            parts.read_model,
            max_message_bytes=parts.max_message_bytes,
            reject_oversized=reject_oversized,
            cache_size=cache_size,
            tokens=parts.tokens,
            standby=parts.standby,
            read_wait=read_wait,
            sinks=parts.sinks,
        )

    @property
    def url(self) -> StoreURL:
        """The parsed store URL; show it with `.redacted()`."""
        return self._store.url

    @property
    def tokens(self) -> Tokens:
        """The API tokens of the HTTP service kept in this store (create, list, revoke,
        verify); see `deployledger serve`."""
        if self._tokens is None:
            raise InvalidQuery("this ledger was built without a token store")
        return self._tokens

    @property
    def sinks(self) -> Sinks:
        """The notification sinks kept in this store (add, list, remove, retry; `run` and
        `deliver` send to them); see `deployledger sink --help`."""
        if self._sinks is None:
            raise InvalidQuery("this ledger was built without a sink store")
        return self._sinks

    def close(self) -> None:
        """Finish background snapshots and release every connection. The ledger cannot be
        used afterwards. (On a view from `reading()`, nothing: close the ledger itself.)"""
        if not self._owner:
            return
        if self._standby is not None:
            self._standby.close()
        self._store.close()
        self._read_model.close()
        if self._tokens is not None:
            self._tokens.close()
        if self._sinks is not None:
            self._sinks.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.url.redacted()!r})"

    # -- writing -----------------------------------------------------------------------

    def record(self, message: MessageInput) -> Receipt:
        """Store one message as the workload's next event; return its receipt.

        `message` is a deploy request, progress message, outcome (status report) or
        undeploy: a model, a dict, or JSON text (see `parse_message` for `kind`). A message
        whose `messageId` is among the workload's latest 10,000 recorded ones is not stored
        again: the receipt has `duplicate=True` and the original position (and attempt
        number, for an outcome). Raises `InvalidReport` (nothing stored) or
        `StoreUnavailable`.
        """
        return self.record_many([message])[0]

    def record_many(self, messages: Iterable[MessageInput]) -> list[Receipt]:
        """Store many messages, of any kinds, in one transaction: all of them, or none.

        Events are stored in input order, so global positions follow the input, and
        receipts come back in that order. Every invalid message is listed in one
        `InvalidReport` (an `IdempotencyConflict` for a reused `messageId` with other
        content), and then nothing is stored.
        """
        return self._appender.append(self._parse(messages))

    def writer(
        self,
        *,
        max_batch: int = groupcommit.DEFAULT_BATCH,
        max_wait: float = groupcommit.DEFAULT_WAIT,
        max_queue: int = groupcommit.DEFAULT_QUEUE,
        on_commit: Callable[[int, float], None] | None = None,
    ) -> GroupWriter:
        """A group-commit writer over this ledger, for many threads writing at once: each
        `record`/`record_many` call waits in a bounded queue, one thread appends the waiting
        calls in one transaction, and each call returns (or raises) only after that commit.
        A batch closes at `max_batch` messages or `max_wait` seconds after its first one;
        a call with nothing queued beside it is committed at once. A call's messages are
        never split across transactions, and one call's `IdempotencyConflict` or
        `InvalidReport` never fails the others. A full queue raises `StoreUnavailable`.
        `on_commit(messages, seconds)` is called after each batch's commit. Close it (or
        use it as a context manager) before closing the ledger."""
        return GroupWriter(
            self._record_group,
            parse=self._parse,
            max_batch=max_batch,
            max_wait=max_wait,
            max_queue=max_queue,
            timeout=self.url.lock_timeout + self.url.connect_timeout,
            on_commit=on_commit,
        )

    def _parse(self, messages: Iterable[MessageInput]) -> list[Message]:
        return parse_messages(
            messages,
            max_message_bytes=self.max_message_bytes,
            reject_oversized=self.reject_oversized,
        )

    def _record_group(self, calls: list[list[Message]]) -> list[Answer]:
        """Several calls' messages in one transaction (see `Appender.append_group`)."""
        return self._appender.append_group(calls)

    # -- where queries go --------------------------------------------------------------

    @property
    def _reads_events(self) -> EventStorePort:
        return self._store if self._read_from == "primary" else self._standby_port.events

    @property
    def _reads_model(self) -> ReadModelPort:
        return self._read_model if self._read_from == "primary" else self._standby_port.read_model

    @property
    def _standby_port(self) -> StandbyPort:
        assert self._standby is not None
        return self._standby

    @property
    def read_from(self) -> str:
        """Where this ledger's queries go: `"standby"` (opened with `read_url`) or
        `"primary"` (the store itself)."""
        return self._read_from

    def reading(self, min_position: int | None = None, *, wait: float | None = None) -> Ledger:
        """This ledger for reads that must see every event up to `min_position` (a receipt's
        `position`): itself, when its queries go to the store, or to a standby whose read
        model has reached `min_position` within `wait` seconds (default `read_wait`);
        else a view of it whose queries go to the primary. `read_from` says which. A view
        shares this ledger's connections and writes like it; close the ledger, not the view.
        """
        if min_position is not None:
            check_limit(min_position, lowest=0, name="min_position")
        wait = self.read_wait if wait is None else _check_wait(wait, "wait")
        if min_position is None or self._read_from == "primary":
            return self
        deadline = time.monotonic() + wait
        pause = 0.005
        try:
            while self._standby_port.read_model.position() < min_position:
                left = deadline - time.monotonic()
                if left <= 0:
                    return self._on_primary()
                time.sleep(min(pause, left))
                pause = min(pause * 2, 0.1)
        except StoreUnavailable:
            return self._on_primary()
        return self

    def _on_primary(self) -> Ledger:
        view = copy.copy(self)
        view._read_from = "primary"
        view._owner = False
        return view

    def replica_lag(self) -> tuple[int, float] | None:
        """How far the standby's read model is behind (None without `read_url`): the
        events stored on the primary that it has not applied, and the seconds since the
        primary committed the last transaction the standby replayed while it is behind
        (0 when it is not). `StoreUnavailable` when either server does not answer."""
        if self._standby is None:
            return None
        top = self._store.max_position()
        behind = max(0, top - self._standby.read_model.position())
        return behind, (round(self._standby.replay_delay(), 3) if behind else 0.0)

    # -- reading -----------------------------------------------------------------------

    def current(
        self, tenant_id: str, workload_rt_id: str, *, at: datetime | None = None
    ) -> WorkloadState | None:
        """The workload's current state, from every event stored so far; None if unknown.

        With `at` (a timezone-aware time), its state as it was then, from the read model's
        history: the state after its last event whose effective time is at or before `at`
        (the effective time is the latest reportedAt, else recording time, among its events
        so far). None if it had no event by then.
        """
        check_texts(tenant_id=tenant_id, workload_rt_id=workload_rt_id)
        if at is not None:
            return self._reads_model.state_at(tenant_id, workload_rt_id, _instant(at))
        key = workload_id(tenant_id, workload_rt_id)
        if self._read_from == "standby":  # never cache a workload read from a standby
            found = self._reads_events.load(key)
            return None if found is None else answers.state_of(found)
        with self._cache.locked([key]):
            workload = self._cache.take(key)
            if workload is None:
                workload = self._store.load(key)
            else:
                self._store.fast_forward(workload)
            if workload is None:
                return None
            self._cache.put(workload)
            return answers.state_of(workload)

    def get(
        self, tenant_id: str, workload_rt_id: str, *, at: datetime | None = None
    ) -> WorkloadState:
        """The workload's current state (or as of `at`), like `current()`; raises
        `WorkloadNotFound` when no report was recorded for it (by then)."""
        state = self.current(tenant_id, workload_rt_id, at=at)
        if state is None:
            when = "" if at is None else f" by {at.isoformat()}"
            raise WorkloadNotFound(f"no reports recorded for {tenant_id}/{workload_rt_id}{when}")
        return state

    def history(
        self,
        tenant_id: str,
        workload_rt_id: str,
        limit: int | None = None,
        before_attempt: int | None = None,
    ) -> list[Attempt]:
        """The workload's attempts (outcomes), newest first: at most `limit`, older than
        `before_attempt`. Each says which request it closed and how long that took.

        An unknown workload has an empty history.
        """
        if limit is not None:
            check_limit(limit, lowest=0)
        if limit == 0:
            return []
        attempts = [
            entry
            for entry in reversed(self._timeline(tenant_id, workload_rt_id))
            if isinstance(entry, Attempt)
            and (before_attempt is None or entry.attempt < before_attempt)
        ]
        return attempts if limit is None else attempts[:limit]

    def timeline(
        self, tenant_id: str, workload_rt_id: str, limit: int | None = None
    ) -> list[TimelineEntry]:
        """The workload's whole lifecycle, newest first: deploy requests, progress messages,
        outcomes (`Attempt`) and undeploys (`LifecycleEntry`), at most `limit`.

        An unknown workload has an empty timeline.
        """
        if limit is not None:
            check_limit(limit, lowest=0)
        entries = self._timeline(tenant_id, workload_rt_id)[::-1]
        return entries if limit is None else entries[:limit]

    def _timeline(self, tenant_id: str, workload_rt_id: str) -> list[TimelineEntry]:
        check_texts(tenant_id=tenant_id, workload_rt_id=workload_rt_id)
        records = self._reads_events.records_of(workload_id(tenant_id, workload_rt_id))
        return answers.timeline_of(records)

    def max_position(self) -> int:
        """The highest global position in the event store (0 when empty)."""
        return self._store.max_position()

    def store_server(self) -> StoreServer | None:
        """PostgreSQL: the server that writes go to (chosen by libpq from the URL's host
        list), and whether it is the primary; None on SQLite. `StoreUnavailable` when no
        server answers."""
        return self._store.server()

    # -- read model --------------------------------------------------------------------

    def workloads(
        self,
        tenant_id: str | Sequence[str] | None = None,
        pool_name: str | None = None,
        state: DeploymentState | str | None = None,
        *,
        at: datetime | None = None,
    ) -> list[WorkloadState]:
        """The fleet: every workload's current state, filtered, by tenant then runtime id.
        `tenant_id` is one tenant or several; `pool_name` matches the pool's name (outcomes)
        or its runtime id (deploy requests).

        With `at` (a timezone-aware time), the fleet as it was then: each workload's state
        after its last event whose effective time is at or before `at` (see `current()`),
        and the filters apply to that state. Workloads without an event by then are left
        out. Answered by one index seek per candidate workload, whatever its history.

        Sees every report recorded before the call (the read model catches up first).
        """
        tenants = check_tenants(tenant_id)
        check_texts(pool_name=pool_name)
        try:
            wanted = DeploymentState.from_label(state) if isinstance(state, str) else state
        except ValueError as e:
            raise InvalidQuery(str(e), "state") from None
        if at is not None:
            return self._reads_model.fleet_at(_instant(at), tenants, pool_name, wanted)
        if tenants is None:
            return self._reads_model.fleet(None, pool_name, wanted)
        if len(tenants) == 1:
            return self._reads_model.fleet(tenants[0], pool_name, wanted)
        found = [s for one in set(tenants) for s in self._reads_model.fleet(one, pool_name, wanted)]
        return sorted(found, key=lambda s: (s.tenant_id, s.workload_rt_id))

    def overdue(
        self,
        older_than: timedelta = DEFAULT_OVERDUE,
        tenant_id: str | None = None,
        pool: str | None = None,
    ) -> list[Overdue]:
        """Deploys that never reported back: workloads whose latest deploy request has had no
        outcome and no undeploy for longer than `older_than` (default 15 minutes), oldest
        request first. `pool` matches the pool name or the pool runtime id.

        Answered from the read model by an index of open requests, so it costs the size of
        the overdue set, not of the fleet.
        """
        older_than = check_duration(older_than, "older_than")
        check_texts(tenant_id=tenant_id, pool=pool)
        return self._reads_model.overdue(older_than, tenant_id, pool)

    def audit(
        self,
        *,
        where: AuditFilter | None = None,
        tenant_id: str | None = None,
        pool_name: str | None = None,
        workload_name: str | None = None,
        workload_rt_id: str | None = None,
        since: datetime | timedelta | None = None,
        until: datetime | None = None,
        success: bool | None = None,
        grep: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        category: str | None = None,
        fingerprint: str | None = None,
    ) -> AuditPage:
        """Attempts across the fleet, newest first, one page of at most `limit` (1 to
        10,000).

        `where` holds the filters (see `AuditFilter`); the keywords `tenant_id` to
        `fingerprint` are the same filters one by one, for a call without `where` (`since`
        may be a timedelta: that long ago). Pass the page's `next_cursor` back as `cursor`
        to continue exactly where it stopped.
        """
        query = _audit_filter(
            where,
            tenant_id=tenant_id,
            pool_name=pool_name,
            workload_name=workload_name,
            workload_rt_id=workload_rt_id,
            since=since,
            until=until,
            success=success,
            grep=grep,
            category=category,
            fingerprint=fingerprint,
        )
        check_limit(limit, highest=MAX_PAGE)
        check_texts(cursor=cursor)
        return self._reads_model.audit(query, limit=limit, cursor=cursor)

    def failures(
        self,
        *,
        since: datetime | timedelta | None = None,
        tenant_id: str | Sequence[str] | None = None,
        pool: str | None = None,
        category: str | None = None,
        limit: int | None = 50,
    ) -> list[FailureGroup]:
        """What is breaking deploys: failed outcomes grouped by fingerprint (the message with
        its variable parts masked), largest group first, at most `limit` groups.

        `since` is a time zone-aware datetime, or a timedelta meaning that long ago (None,
        the default here: every failure kept; the CLI and HTTP default to the last 24 hours,
        a window for people, where a program states its own); it compares with when the
        outcome occurred (reportedAt, else the recording time). `tenant_id` is one tenant
        or any of several; `pool` the pool name of the outcome; `category` one of
        `deployledger.domain.insights.failures.CATEGORIES`.
        Each group counts its attempts, distinct workloads, and the workloads still
        failing now (see `FailureGroup`).
        """
        tenants = check_tenants(tenant_id)
        check_texts(pool=pool)
        if limit is not None:
            check_limit(limit, highest=MAX_PAGE)
        return self._reads_model.failures(
            since=check_time(since, "since"),
            tenant_id=tenant_id if isinstance(tenant_id, str) else tenants,
            pool=pool,
            category=check_category(category),
            limit=limit,
        )

    def reclassify(self, *, force: bool = False) -> ReclassifyResult:
        """Apply the current failure rules to the stored failed outcomes: rewrite only their
        `category` and `fingerprint`, and only when the rules version recorded in the
        store differs from this release's (or with `force`). Says how many changed."""
        return self._read_model.reclassify(force=force)

    def audit_iter(
        self,
        *,
        where: AuditFilter | None = None,
        tenant_id: str | Sequence[str] | None = None,
        pool_name: str | None = None,
        workload_name: str | None = None,
        workload_rt_id: str | None = None,
        since: datetime | timedelta | None = None,
        until: datetime | None = None,
        success: bool | None = None,
        grep: str | None = None,
        category: str | None = None,
        fingerprint: str | None = None,
    ) -> Iterator[Attempt]:
        """Every attempt `audit(...)` would list with the same filters, newest first, as an
        iterator in constant memory (read in keyset pages). `tenant_id` may name several
        tenants (any of them).

        Attempts recorded after the export started are not included.
        """
        query = _audit_filter(
            where,
            tenant_id=tenant_id,
            pool_name=pool_name,
            workload_name=workload_name,
            workload_rt_id=workload_rt_id,
            since=since,
            until=until,
            success=success,
            grep=grep,
            category=category,
            fingerprint=fingerprint,
        )
        if query.tenants is None or len(query.tenants) == 1:
            return self._reads_model.audit_iter(query)
        each = [
            self._reads_model.audit_iter(replace(query, tenants=(t,)))
            for t in dict.fromkeys(query.tenants)
        ]
        return heapq.merge(*each, key=lambda a: -a.position)

    def audit_csv(
        self,
        *,
        where: AuditFilter | None = None,
        tenant_id: str | Sequence[str] | None = None,
        pool_name: str | None = None,
        workload_name: str | None = None,
        workload_rt_id: str | None = None,
        since: datetime | timedelta | None = None,
        until: datetime | None = None,
        success: bool | None = None,
        grep: str | None = None,
        category: str | None = None,
        fingerprint: str | None = None,
    ) -> Iterator[bytes]:
        """The attempts of `audit_iter(...)` as CSV (UTF-8 bytes) in chunks, the header row
        first: the columns and the bytes of `audit -o csv` (see
        `deployledger.domain.insights.export`),
        streamed from one query in constant memory (PostgreSQL writes the CSV itself, with
        `COPY ... TO STDOUT`)."""
        query = _audit_filter(
            where,
            tenant_id=tenant_id,
            pool_name=pool_name,
            workload_name=workload_name,
            workload_rt_id=workload_rt_id,
            since=since,
            until=until,
            success=success,
            grep=grep,
            category=category,
            fingerprint=fingerprint,
        )
        return self._reads_model.audit_csv(query)

    def stats(
        self,
        *,
        since: datetime | timedelta = timedelta(days=30),
        until: datetime | None = None,
        by: str = "tenant",
        tenant_id: str | Sequence[str] | None = None,
        pool: str | None = None,
    ) -> list[DeliveryStats]:
        """Delivery metrics per tenant, pool, workload or chart (`by`), over the outcomes
        that occurred in `since <= t < until` (default: the last 30 days, until now):
        deployment frequency, change failure rate, failed deployment recovery time,
        deploy duration, and the overdue deploys now. See `deployledger.domain.insights.stats` for
        the exact definitions. Groups are sorted by key.
        """
        if by not in GROUPINGS:
            raise InvalidQuery(f"by must be one of {', '.join(GROUPINGS)}, got {by!r}", "by")
        tenants = check_tenants(tenant_id)
        check_texts(pool=pool)
        now = datetime.now(UTC)
        start = check_time(since, "since", now)
        end = check_time(until, "until", now, ago=False) or now
        assert start is not None
        check_period(start, end)
        return self._reads_model.stats(by=by, since=start, until=end, tenants=tenants, pool=pool)

    def read_position(self) -> int:
        """The last event position the read model has applied."""
        return self._read_model.position()

    def catch_up(self) -> int:
        """Bring the read model up to date now; return the number of events applied."""
        return self._read_model.catch_up()

    def wait_for(self, position: int, timeout: float = 10.0) -> None:
        """Wait until the read model has applied `position` (e.g. a receipt's), or raise
        `ProjectionBehind`. For when a separate follower process keeps the read model."""
        self._read_model.wait_for(position, timeout)

    def follow(
        self,
        stop: threading.Event | None = None,
        *,
        poll_interval: float = 1.0,
        on_leader: Callable[[], None] | None = None,
        on_standby: Callable[[], None] | None = None,
        checkpoint_every: int | None = None,
        checkpoint_minutes: float | None = None,
        checkpoint_key: SigningKey | None = None,
        checkpoint_origin: str = logbook.DEFAULT_ORIGIN,
        on_checkpoint: Callable[[SignedCheckpoint], None] | None = None,
        on_outage: Callable[[StoreUnavailable], None] | None = None,
    ) -> None:
        """Keep the read model live until `stop` is set (see `deployledger project --follow`).

        On PostgreSQL one follower at a time is active: `on_standby()` is called once if
        another holds the lock when this one starts, and `on_leader()` once this one is
        active (at once on SQLite, where followers poll side by side).

        The active follower writes a checkpoint (signed with `checkpoint_key` if given)
        once `checkpoint_every` new events were logged, or `checkpoint_minutes` after the
        last one if the log grew since; `on_checkpoint(checkpoint)` is called for each.

        An outage of the store (a restart, or a failover to a standby) does not end it:
        `on_outage(error)` is called, and the follower reconnects, takes the lead again
        and resumes where the read model stands.
        """
        schedule = logbook.Schedule(checkpoint_every, checkpoint_minutes)
        logbook.check_origin(checkpoint_origin)

        def tick() -> None:
            if schedule.due():
                made = self._log.checkpoint(key=checkpoint_key, origin=checkpoint_origin)
                schedule.done()
                if on_checkpoint is not None:
                    on_checkpoint(made)

        active = schedule.active

        def on_batch(applied: int, position: int) -> None:
            if self._sinks is not None:
                self._sinks.nudge()  # sink workers in this process look at once
            if active:
                schedule.logged(applied)
                tick()

        self._read_model.follow(
            stop,
            poll_interval=poll_interval,
            on_leader=on_leader,
            on_standby=on_standby,
            on_batch=on_batch,
            on_idle=tick if active else None,
            on_outage=on_outage,
        )

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> RebuildResult:
        """Rebuild the read model from every event beside the live one, verify, switch.

        The tamper-evident log is brought up to date too, and recomputed from the events
        if its tables were emptied or lost rows."""
        return self._read_model.rebuild(progress)

    # -- the tamper-evident log --------------------------------------------------------

    @property
    def log(self) -> Log:
        """The tamper-evident log: `checkpoint`, `checkpoints`, `verify`, `prove`,
        `export_bundle` (see `deployledger log --help`)."""
        return self._log

    def checkpoint(
        self, *, key: SigningKey | None = None, origin: str = logbook.DEFAULT_ORIGIN
    ) -> SignedCheckpoint:
        """Deprecated: `ledger.log.checkpoint()`."""
        _deprecated("checkpoint")
        return self._log.checkpoint(key=key, origin=origin)

    def checkpoints(self) -> list[SignedCheckpoint]:
        """Deprecated: `ledger.log.checkpoints()`."""
        _deprecated("checkpoints")
        return self._log.checkpoints()

    def verify(
        self,
        checkpoints: Iterable[str | SignedCheckpoint] = (),
        *,
        keys: Iterable[VerifierKey] = (),
    ) -> VerifyReport:
        """Deprecated: `ledger.log.verify()`."""
        _deprecated("verify")
        return self._log.verify(checkpoints, keys=keys)

    def prove(
        self,
        tenant_id: str,
        workload_rt_id: str,
        attempt: int,
        *,
        checkpoint: str | SignedCheckpoint | None = None,
    ) -> InclusionProof:
        """Deprecated: `ledger.log.prove()`."""
        _deprecated("prove")
        return self._log.prove(tenant_id, workload_rt_id, attempt, checkpoint=checkpoint)

    def export_bundle(
        self,
        tenant_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        checkpoint: str | SignedCheckpoint | None = None,
    ) -> tuple[str, int, int]:
        """Deprecated: `ledger.log.export_bundle()`."""
        _deprecated("export_bundle")
        return self._log.export_bundle(tenant_id, since=since, until=until, checkpoint=checkpoint)


def _check_wait(value: object, name: str) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and math.isfinite(value) and 0 <= value <= 3600:  # type: ignore[arg-type,operator]
        return float(value)  # type: ignore[arg-type]
    raise InvalidQuery(f"{name} must be a number of seconds from 0 to 3600, got {value!r}")


def _deprecated(name: str) -> None:
    warnings.warn(
        f"Ledger.{name}() is deprecated: use ledger.log.{name}()", DeprecationWarning, stacklevel=3
    )


def _instant(at: object) -> datetime:
    """`at` checked: a timezone-aware datetime, in UTC."""
    checked = check_time(at, "at", ago=False)
    assert checked is not None
    try:
        return checked.astimezone(UTC)
    except OverflowError:
        raise InvalidQuery(f"at {checked.isoformat()} is out of range in UTC", "at") from None


def _audit_filter(where: AuditFilter | None, **keywords: Any) -> AuditFilter:
    """`where`, or the filters given one by one as the keywords of `Ledger.audit`."""
    given = sorted(name for name, value in keywords.items() if value is not None)
    if where is not None:
        if not isinstance(where, AuditFilter):
            raise InvalidQuery(f"where must be an AuditFilter, got {type(where).__name__}")
        if given:
            raise InvalidQuery(
                f"pass the filters in where= or as keywords, not both: {', '.join(given)}"
            )
        return where
    pool_name = keywords.pop("pool_name")
    check_texts(pool_name=pool_name)
    return AuditFilter(
        tenants=check_tenants(keywords.pop("tenant_id")),
        pools=None if pool_name is None else (pool_name,),
        since=check_time(keywords.pop("since"), "since"),
        **keywords,
    )
