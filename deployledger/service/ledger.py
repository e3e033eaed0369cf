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

import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Self
from uuid import UUID

from deployledger.domain.records import (
    Attempt,
    AuditPage,
    AuditQuery,
    RebuildResult,
    Receipt,
    WorkloadState,
)
from deployledger.domain.reports import (
    DEFAULT_MAX_MESSAGE_BYTES,
    ReportInput,
    WorkloadDeploymentStatus,
    parse_reports,
)
from deployledger.domain.state import DeploymentState
from deployledger.domain.storeurl import StoreURL
from deployledger.domain.workload import Workload, workload_id
from deployledger.errors import (
    IdempotencyConflict,
    InvalidQuery,
    Problem,
    WorkloadNotFound,
    WriteConflict,
)
from deployledger.service import answers
from deployledger.service.cache import DEFAULT_CACHE_SIZE, WorkloadCache
from deployledger.service.ports import EventStorePort, Positions, ReadModelPort

MAX_WRITE_ATTEMPTS = 200  # and at most lock_timeout seconds of retrying
DEFAULT_SNAPSHOT_INTERVAL = 200

# What one report does: its workload, its attempt number, the new event (None for a
# duplicate), and for a duplicate of a stored attempt, that attempt's event and position.
_Plan = tuple[
    Workload,
    int,
    Workload.DeploymentAttempted | None,
    tuple[Workload.DeploymentAttempted, int] | None,
]


class Ledger:
    """Every status report kept as an immutable event, per workload.

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
    ) -> None:
        self._store = events
        self._read_model = read_model
        self.max_message_bytes = max_message_bytes
        self.reject_oversized = reject_oversized
        self._cache = WorkloadCache(cache_size)

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
        Raises `InvalidStoreURL` for a URL or setting that cannot be used.
        """
        from deployledger.service.bootstrap import open_ledger

        return open_ledger(
            url,
            create=create,
            lock_timeout=lock_timeout,
            connect_timeout=connect_timeout,
            max_message_bytes=max_message_bytes,
            reject_oversized=reject_oversized,
            snapshot_interval=snapshot_interval,
            cache_size=cache_size,
            read_model_url=read_model_url,
        )

    @property
    def url(self) -> StoreURL:
        """The parsed store URL; show it with `.redacted()`."""
        return self._store.url

    def close(self) -> None:
        """Finish background snapshots and release every connection. The ledger cannot be
        used afterwards."""
        self._store.close()
        self._read_model.close()

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

    def record(self, report: ReportInput) -> Receipt:
        """Store one report as the workload's next attempt; return its receipt.

        A report whose `messageId` is among the workload's latest 10,000 recorded
        ones is not stored again: the receipt has `duplicate=True` and the original
        attempt number. Raises `InvalidReport` (nothing stored) or `StoreUnavailable`.
        """
        return self.record_many([report])[0]

    def record_many(self, reports: Iterable[ReportInput]) -> list[Receipt]:
        """Store many reports in one transaction: all of them, or none.

        Events are stored in input order, so global positions follow the input, and
        receipts come back in that order. Every invalid report is listed in one
        `InvalidReport` (an `IdempotencyConflict` for a reused `messageId` with other
        content), and then nothing is stored.
        """
        parsed = parse_reports(
            reports,
            max_message_bytes=self.max_message_bytes,
            reject_oversized=self.reject_oversized,
        )
        if not parsed:
            return []
        ids = [workload_id(r.tenant_id, r.workload_rt_id) for r in parsed]
        with self._cache.locked(ids):
            return self._record_locked(parsed, ids)

    def _record_locked(
        self, reports: list[WorkloadDeploymentStatus], ids: list[UUID]
    ) -> list[Receipt]:
        unique_ids = list(dict.fromkeys(ids))
        workloads = {key: self._cache.take(key) for key in unique_ids}
        deadline = time.monotonic() + self.url.lock_timeout
        for attempt in range(MAX_WRITE_ATTEMPTS):
            try:
                cold = [key for key in unique_ids if workloads[key] is None]
                known = self._store.existing(cold) if len(cold) > 1 else set(cold)
                for key in cold:
                    workloads[key] = self._store.load(key) if key in known else None
                plans, events = self._apply(reports, ids, workloads)
                # A conflict raised here leaves the changed workloads out of the cache (they
                # were taken out of it), so nothing unstored is ever remembered.
                touched = [w for w in workloads.values() if w is not None]
                positions = self._store.save(events, touched) if events else {}
            except WriteConflict:
                # Another writer got there first: reload and replay the batch on top.
                workloads = dict.fromkeys(unique_ids)
                if time.monotonic() > deadline:
                    break
                # Full jitter, exponential up to 50 ms: losers spread out instead of
                # colliding again on the next version.
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** min(attempt, 6))))
                continue
            receipts = [self._receipt(plan, positions) for plan in plans]
            for cached in workloads.values():
                if cached is not None:
                    self._cache.put(cached)
            return receipts
        raise WriteConflict(
            f"gave up after {attempt + 1} attempts: other writers kept changing "
            "the same workloads; retry later"
        )

    def _apply(
        self,
        reports: list[WorkloadDeploymentStatus],
        ids: list[UUID],
        workloads: dict[UUID, Workload | None],
    ) -> tuple[list[_Plan], list[object]]:
        """Trigger the events in memory, in input order: one plan per report, and the new
        events in the order they are to be stored (so positions follow the input).

        A `messageId` seen before is a duplicate when the content is the same, and an
        `IdempotencyConflict` (for the whole batch, before anything is stored) when not.
        """
        plans: list[_Plan] = []
        events: list[object] = []
        fresh: dict[tuple[UUID, int], Workload.DeploymentAttempted] = {}
        conflicts: list[Problem] = []
        for number, (report, key) in enumerate(zip(reports, ids, strict=True), start=1):
            found = workloads[key]
            workload = found or Workload.register(report.tenant_id, report.workload_rt_id)
            workloads[key] = workload
            original = workload.attempt_for(report.message_id)
            if original is None:
                event = workload.record_attempt(report)
                events.extend(workload.collect_events())
                fresh[(key, workload.attempts)] = event
                plans.append((workload, workload.attempts, event, None))
                continue
            earlier = fresh.get((key, original))
            stored = None if earlier is not None else self._stored_attempt(workload, original)
            if stored is not None:
                earlier = stored[0]
            assert earlier is not None
            if not earlier.same_report(report):
                where = f"{report.tenant_id}/{report.workload_rt_id}"
                reason = (
                    f"{report.message_id!r} was already recorded as attempt {original} of "
                    f"{where}, with different content"
                )
                conflicts.append(Problem("messageId", reason, number if len(reports) > 1 else None))
            plans.append((workload, original, None, stored))
        if conflicts:
            raise IdempotencyConflict(conflicts)
        return plans, events

    def _stored_attempt(
        self, workload: Workload, attempt: int
    ) -> tuple[Workload.DeploymentAttempted, int]:
        version = attempt + 1  # attempt n is version n + 1
        found = self._store.events_with_positions(
            workload.id, min_version=version, max_version=version, limit=1
        )
        return found[0]

    def _receipt(self, plan: _Plan, positions: Positions) -> Receipt:
        workload, attempt, event, stored = plan
        if event is not None:
            position = positions[(workload.id, event.originator_version)]
            return answers.receipt(workload, attempt, event, position, duplicate=False)
        if stored is None:  # a duplicate of an attempt earlier in this same batch
            stored = self._stored_attempt(workload, attempt)
        original, position = stored
        return answers.receipt(workload, attempt, original, position, duplicate=True)

    # -- reading -----------------------------------------------------------------------

    def current(self, tenant_id: str, workload_rt_id: str) -> WorkloadState | None:
        """The workload's current state, from every event stored so far; None if unknown."""
        key = workload_id(tenant_id, workload_rt_id)
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

    def get(self, tenant_id: str, workload_rt_id: str) -> WorkloadState:
        """The workload's current state, like `current()`; raises `WorkloadNotFound` when
        no report was ever recorded for it."""
        state = self.current(tenant_id, workload_rt_id)
        if state is None:
            raise WorkloadNotFound(f"no reports recorded for {tenant_id}/{workload_rt_id}")
        return state

    def history(
        self,
        tenant_id: str,
        workload_rt_id: str,
        limit: int | None = None,
        before_attempt: int | None = None,
    ) -> list[Attempt]:
        """The workload's attempts, newest first: at most `limit`, older than `before_attempt`.

        An unknown workload has an empty history.
        """
        if limit is not None and limit < 0:
            raise InvalidQuery(f"limit must not be negative, got {limit}")
        if limit == 0:
            return []
        max_version = None if before_attempt is None else before_attempt  # attempt n-1 -> v n
        rows = self._store.events_with_positions(
            workload_id(tenant_id, workload_rt_id),
            min_version=2,
            max_version=max_version,
            limit=limit,
        )
        return [answers.attempt_of(event, position) for event, position in rows]

    def max_position(self) -> int:
        """The highest global position in the event store (0 when empty)."""
        return self._store.max_position()

    # -- read model --------------------------------------------------------------------

    def workloads(
        self,
        tenant_id: str | None = None,
        pool_name: str | None = None,
        state: DeploymentState | str | None = None,
    ) -> list[WorkloadState]:
        """The fleet: every workload's current state, filtered, by tenant then runtime id.

        Sees every report recorded before the call (the read model catches up first).
        """
        try:
            wanted = DeploymentState.from_label(state) if isinstance(state, str) else state
        except ValueError as e:
            raise InvalidQuery(str(e)) from None
        return self._read_model.fleet(tenant_id, pool_name, wanted)

    def audit(
        self,
        *,
        tenant_id: str | None = None,
        pool_name: str | None = None,
        workload_name: str | None = None,
        workload_rt_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        success: bool | None = None,
        grep: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AuditPage:
        """Attempts across the fleet, newest first, one page at a time.

        Filters combine with AND: `since` <= occurred at < `until` (occurred at: the
        sender's reportedAt, else the recording time); `success` False for failures only;
        `grep` a case-insensitive substring of the status message. Pass
        the page's `next_cursor` back as `cursor` to continue exactly where it stopped.
        """
        query = AuditQuery(
            tenant_id, pool_name, workload_name, workload_rt_id, since, until, success, grep
        )
        return self._read_model.audit(query, limit=limit, cursor=cursor)

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
    ) -> None:
        """Keep the read model live until `stop` is set (see `deployledger project --follow`).

        On PostgreSQL one follower at a time is active: `on_standby()` is called once if
        another holds the lock when this one starts, and `on_leader()` once this one is
        active (at once on SQLite, where followers poll side by side).
        """
        self._read_model.follow(
            stop, poll_interval=poll_interval, on_leader=on_leader, on_standby=on_standby
        )

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> RebuildResult:
        """Rebuild the read model from every event beside the live one, verify, switch."""
        return self._read_model.rebuild(progress)
