"""In-memory fakes of the facade's ports (`deployledger.service.ports`), for unit tests of
`Ledger`'s own logic without a database.

Each fake subclasses the Protocol it fakes, so mypy reports a member it lacks or gets wrong
(a Protocol member with no body is abstract: the fake cannot be built without it).

- `FakeEventStore`: events in a list; a version already taken raises `WriteConflict`.
- `FakeReadModel`: every query answered from the events of a `FakeEventStore`, folded by
  the library's own pure functions (the timeline, failure rules, delivery metrics), so it
  is always caught up. Each call is also logged in `calls`, to see what the facade asked.
- `FakeLog`: the tamper-evident log over the same events (leaf bytes of their decoded
  state, not of the stored bytes), checkpoints in a list.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from deployledger.domain.auditfilter import AuditFilter
from deployledger.domain.insights.export import AUDIT_CSV_COLUMNS, csv_row
from deployledger.domain.insights.failure_groups import FailureGroup, ReclassifyResult
from deployledger.domain.insights.failures import RULES_VERSION, categorize, fingerprint, template
from deployledger.domain.insights.stats import DeliveryStats, OutcomeRow, fold
from deployledger.domain.storeurl import StoreServer, StoreURL
from deployledger.domain.tlog import merkle
from deployledger.domain.tlog.leaf import leaf_bytes
from deployledger.domain.tlog.report import LogStatus, Recomputed, StoredCheckpoint, Tampering
from deployledger.domain.workload.aggregate import NewEvent, Workload
from deployledger.domain.workload.records import (
    Attempt,
    AuditPage,
    Overdue,
    RebuildResult,
    WorkloadState,
)
from deployledger.domain.workload.state import DeploymentState
from deployledger.errors import ProjectionBehind, StoreUnavailable, WriteConflict
from deployledger.projections.project import EventRecord
from deployledger.service import answers
from deployledger.service.ports import EventStorePort, LogPort, Positions, Progress, ReadModelPort


class FakeEventStore(EventStorePort):
    """Events in a list; a version already taken raises `WriteConflict`, as the real one."""

    def __init__(self) -> None:
        self.url = StoreURL.parse("sqlite:///:memory:")
        self.events: list[Any] = []
        self.conflicts_to_inject = 0
        self.loads = 0
        self.saves = 0

    def _of(self, workload: UUID) -> list[Any]:
        return [e for e in self.events if e.originator_id == workload]

    def workload_ids(self) -> list[UUID]:
        """Every workload with events, in the order of their first event."""
        return list(dict.fromkeys(e.originator_id for e in self.events))

    def folded(self, workload: UUID, *, upto: datetime | None = None) -> Workload | None:
        """The workload from its events (those recorded at or before `upto`), uncounted."""
        found: Workload | None = None
        for event in self._of(workload):
            if upto is not None and event.timestamp > upto:
                break
            found = event.mutate(found)
        return found

    def load(self, workload: UUID) -> Workload | None:
        self.loads += 1
        return self.folded(workload)

    def existing(self, workloads: Sequence[UUID]) -> set[UUID]:
        return {w for w in workloads if self._of(w)}

    def fast_forward(self, workload: Workload) -> None:
        for event in self._of(workload.id):
            if event.originator_version > workload.version:
                event.mutate(workload)

    def save(self, events: Sequence[object], workloads: Sequence[Workload]) -> Positions:
        self.saves += 1
        # The ledger hands over `NewEvent`s (stored from their fields): keep event objects.
        pending: list[Any] = [e.to_event() if isinstance(e, NewEvent) else e for e in events]
        taken = {(e.originator_id, e.originator_version) for e in self.events}
        if self.conflicts_to_inject or any(
            (e.originator_id, e.originator_version) in taken for e in pending
        ):
            self.conflicts_to_inject = max(0, self.conflicts_to_inject - 1)
            raise WriteConflict("version taken")
        start = len(self.events)
        self.events.extend(pending)
        return {
            (e.originator_id, e.originator_version): start + n + 1 for n, e in enumerate(pending)
        }

    def event_at(self, workload: UUID, version: int) -> tuple[Workload.Event, int]:
        for position, event in enumerate(self.events, start=1):
            if (event.originator_id, event.originator_version) == (workload, version):
                return event, position
        raise LookupError(version)

    def attempts_upto(self, workload: UUID, version: int) -> int:
        return sum(
            isinstance(e, Workload.DeploymentAttempted) and e.originator_version <= version
            for e in self._of(workload)
        )

    def records_of(self, workload: UUID) -> list[EventRecord]:
        return [
            EventRecord(
                self.events.index(e) + 1,
                workload.hex,
                e.originator_version,
                get_topic(type(e)),
                dict(vars(e)),
            )
            for e in self._of(workload)
        ]

    def max_position(self) -> int:
        return len(self.events)

    def server(self) -> StoreServer | None:
        return None  # an embedded store, like SQLite

    def close(self) -> None:
        pass


def occurred_at(attempt: Attempt) -> datetime:
    """When an attempt occurred: the sender's reportedAt, else the recording time."""
    return attempt.reported_at or attempt.recorded_at


def matches(attempt: Attempt, query: AuditFilter) -> bool:
    """Whether `attempt` passes every filter of `query` (None: any)."""
    message = attempt.status_message
    failed = not attempt.success
    return (
        (query.tenants is None or attempt.tenant_id in query.tenants)
        and (query.pools is None or attempt.pool_name in query.pools)
        and query.workload_name in (None, attempt.workload_name)
        and query.workload_rt_id in (None, attempt.workload_rt_id)
        and (query.since is None or occurred_at(attempt) >= query.since)
        and (query.until is None or occurred_at(attempt) < query.until)
        and query.success in (None, attempt.success)
        and (query.grep is None or query.grep.lower() in (message or "").lower())
        and (query.category is None or (failed and categorize(message) == query.category))
        and (query.fingerprint is None or (failed and fingerprint(message) == query.fingerprint))
    )


class FakeReadModel(ReadModelPort):
    """The read model of `store`, computed from its events at each query."""

    def __init__(self, store: FakeEventStore) -> None:
        self.store = store
        self.applied = 0
        self.closed = False
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._log = FakeLog(store)

    def _called(self, name: str, **arguments: Any) -> None:
        self.calls.append((name, arguments))

    def attempts(self) -> list[Attempt]:
        """Every attempt of every workload, newest (highest position) first."""
        found = [
            entry
            for workload in self.store.workload_ids()
            for entry in answers.timeline_of(self.store.records_of(workload))
            if isinstance(entry, Attempt)
        ]
        return sorted(found, key=lambda a: -a.position)

    def _states(self, upto: datetime | None = None) -> list[WorkloadState]:
        folded = [self.store.folded(w, upto=upto) for w in self.store.workload_ids()]
        states = [answers.state_of(w) for w in folded if w is not None]
        return sorted(states, key=lambda s: (s.tenant_id, s.workload_rt_id))

    def fleet(
        self, tenant_id: str | None, pool_name: str | None, state: DeploymentState | None
    ) -> list[WorkloadState]:
        self._called("fleet", tenant_id=tenant_id, pool_name=pool_name, state=state)
        return [
            s
            for s in self._states()
            if tenant_id in (None, s.tenant_id)
            and pool_name in (None, s.pool_name, s.pool_rt_id)
            and state in (None, s.state)
        ]

    def fleet_at(
        self,
        at: datetime,
        tenant_ids: Sequence[str] | None,
        pool_name: str | None,
        state: DeploymentState | None,
    ) -> list[WorkloadState]:
        # The recording time stands for the effective time: the fakes' reports carry no
        # reportedAt later than it.
        self._called("fleet_at", at=at, tenant_ids=tenant_ids, pool_name=pool_name, state=state)
        return [
            s
            for s in self._states(upto=at)
            if (tenant_ids is None or s.tenant_id in tenant_ids)
            and pool_name in (None, s.pool_name, s.pool_rt_id)
            and state in (None, s.state)
        ]

    def state_at(self, tenant_id: str, workload_rt_id: str, at: datetime) -> WorkloadState | None:
        self._called("state_at", tenant_id=tenant_id, workload_rt_id=workload_rt_id, at=at)
        for s in self._states(upto=at):
            if (s.tenant_id, s.workload_rt_id) == (tenant_id, workload_rt_id):
                return s
        return None

    def overdue(
        self, older_than: timedelta, tenant_id: str | None, pool: str | None
    ) -> list[Overdue]:
        self._called("overdue", older_than=older_than, tenant_id=tenant_id, pool=pool)
        now = datetime.now(UTC)
        found = [
            Overdue(
                s.tenant_id,
                s.workload_rt_id,
                s.workload_name,
                s.pool_name,
                s.pool_rt_id,
                s.pending_chart_name,
                s.pending_chart_version,
                s.requested_at,
                now - s.requested_at,
                s.status_message,
            )
            for s in self._states()
            if s.requested_at is not None
            and now - s.requested_at > older_than
            and tenant_id in (None, s.tenant_id)
            and pool in (None, s.pool_name, s.pool_rt_id)
        ]
        return sorted(found, key=lambda o: o.requested_at)

    def audit(self, query: AuditFilter, *, limit: int, cursor: str | None) -> AuditPage:
        # The cursor is the position of the last attempt of the previous page.
        self._called("audit", query=query, limit=limit, cursor=cursor)
        after = int(cursor) if cursor is not None else None
        found = [
            a
            for a in self.attempts()
            if matches(a, query) and (after is None or a.position < after)
        ]
        page = found[:limit]
        more = len(found) > limit and page
        return AuditPage(page, str(page[-1].position) if more else None)

    def failures(
        self,
        *,
        since: datetime | None,
        tenant_id: str | Sequence[str] | None,
        pool: str | None,
        category: str | None,
        limit: int | None,
    ) -> list[FailureGroup]:
        self._called(
            "failures",
            since=since,
            tenant_id=tenant_id,
            pool=pool,
            category=category,
            limit=limit,
        )
        tenants = [tenant_id] if isinstance(tenant_id, str) else tenant_id
        failed = [
            a
            for a in self.attempts()
            if not a.success
            and (tenants is None or a.tenant_id in tenants)
            and pool in (None, a.pool_name)
            and (since is None or occurred_at(a) >= since)
            and category in (None, categorize(a.status_message))
        ]
        failing = {
            (s.tenant_id, s.workload_rt_id)
            for s in self._states()
            if s.state is DeploymentState.ERROR
        }
        groups: dict[str, list[Attempt]] = {}
        for attempt in failed:  # newest first: each group's first is its example
            groups.setdefault(fingerprint(attempt.status_message), []).append(attempt)
        made = []
        for key, members in groups.items():
            example = members[0]
            workloads = {(a.tenant_id, a.workload_rt_id) for a in members}
            made.append(
                FailureGroup(
                    fingerprint=key,
                    category=categorize(example.status_message),
                    template=template(example.status_message),
                    attempts=len(members),
                    workloads=len(workloads),
                    still_failing=len(workloads & failing),
                    tenants=tuple(sorted({a.tenant_id for a in members})),
                    pools=tuple(sorted({a.pool_name for a in members if a.pool_name})),
                    first_seen=min(occurred_at(a) for a in members),
                    last_seen=max(occurred_at(a) for a in members),
                    example=example.status_message,
                    example_tenant_id=example.tenant_id,
                    example_workload_rt_id=example.workload_rt_id,
                )
            )
        made.sort(key=lambda g: (-g.attempts, g.fingerprint))
        return made if limit is None else made[:limit]

    def reclassify(self, *, force: bool) -> ReclassifyResult:
        # Categories and fingerprints are derived at each query: nothing is stale.
        self._called("reclassify", force=force)
        examined = sum(not a.success for a in self.attempts()) if force else 0
        return ReclassifyResult(RULES_VERSION, RULES_VERSION, examined, 0)

    def audit_iter(self, query: AuditFilter) -> Iterator[Attempt]:
        self._called("audit_iter", query=query)
        return (a for a in self.attempts() if matches(a, query))

    def audit_csv(self, query: AuditFilter) -> Iterator[bytes]:
        self._called("audit_csv", query=query)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(AUDIT_CSV_COLUMNS)
        for attempt in self.attempts():
            if matches(attempt, query):
                writer.writerow(csv_row(attempt))
        yield out.getvalue().encode()

    def stats(
        self,
        *,
        by: str,
        since: datetime,
        until: datetime,
        tenants: Sequence[str] | None,
        pool: str | None,
    ) -> list[DeliveryStats]:
        self._called("stats", by=by, since=since, until=until, tenants=tenants, pool=pool)
        rows = [
            OutcomeRow(
                a.position,
                a.tenant_id,
                a.workload_rt_id,
                a.workload_name,
                a.pool_name,
                a.chart_name,
                occurred_at(a),
                a.success,
                a.duration,
            )
            for a in reversed(self.attempts())  # position order
            if (tenants is None or a.tenant_id in tenants) and pool in (None, a.pool_name)
        ]
        return fold(
            by=by,
            since=since,
            until=until,
            before=[r for r in rows if r.occurred_at < since],
            during=[r for r in rows if since <= r.occurred_at < until],
        )

    def position(self) -> int:
        return self.applied

    def catch_up(self) -> int:
        applied, self.applied = self.store.max_position() - self.applied, self.store.max_position()
        return applied

    def wait_for(self, position: int, timeout: float) -> None:
        # Nothing else applies events to a fake: what `catch_up` has not reached never comes.
        if position > self.applied:
            raise ProjectionBehind(f"position {position} not applied (at {self.applied})")

    def follow(
        self,
        stop: threading.Event | None,
        *,
        poll_interval: float,
        on_leader: Callable[[], None] | None = None,
        on_standby: Callable[[], None] | None = None,
        on_batch: Progress | None = None,
        on_idle: Callable[[], None] | None = None,
        on_outage: Callable[[StoreUnavailable], None] | None = None,
    ) -> None:
        # The only follower there is: it leads at once and never stands by.
        if on_leader is not None:
            on_leader()
        while True:
            applied = self.catch_up()
            if applied and on_batch is not None:
                on_batch(applied, self.applied)
            if on_idle is not None:
                on_idle()
            if stop is not None and stop.wait(poll_interval):
                return
            if stop is None:
                threading.Event().wait(poll_interval)

    def rebuild(self, progress: Progress | None) -> RebuildResult:
        self.applied = 0
        events = self.catch_up()
        if progress is not None:
            progress(events, events)
        return RebuildResult(
            events, self.applied, len(self.store.workload_ids()), len(self.attempts())
        )

    @property
    def log(self) -> LogPort:
        return self._log

    def close(self) -> None:
        self.closed = True


class FakeLog(LogPort):
    """The log of every event of `store`, always in sync; checkpoints in a list."""

    def __init__(self, store: FakeEventStore) -> None:
        self.store = store
        self.stored: list[StoredCheckpoint] = []

    def _records(self, upto: int | None = None) -> list[EventRecord]:
        found = [r for w in self.store.workload_ids() for r in self.store.records_of(w)]
        found.sort(key=lambda r: r.position)
        return [r for r in found if upto is None or r.position <= upto]

    def _leaf(self, record: EventRecord) -> bytes:
        state = json.dumps(record.data, sort_keys=True, default=str).encode()
        return leaf_bytes(
            record.position, UUID(record.workload_id), record.version, record.topic, state
        )

    def _hashes(self, upto: int | None = None) -> list[bytes]:
        return [merkle.leaf_hash(self._leaf(r)) for r in self._records(upto)]

    def sync(self) -> LogStatus:
        return self.status()

    def status(self) -> LogStatus:
        records = self._records()
        last = records[-1].position if records else None
        return LogStatus(
            stored=bool(records),
            size=len(records),
            position=last or 0,
            root=merkle.root(self._hashes()),
            leaf_rows=len(records),
            top_index=len(records) - 1 if records else None,
            last_leaf_position=last,
        )

    def write_checkpoint(
        self, note_for: Callable[[int, bytes], tuple[str, datetime, str]]
    ) -> StoredCheckpoint:
        status = self.sync()
        origin, at, note = note_for(status.size, status.root)
        made = StoredCheckpoint(len(self.stored) + 1, origin, status.size, at, note)
        self.stored.append(made)
        return made

    def checkpoints(self) -> list[StoredCheckpoint]:
        return list(self.stored)

    def max_event_position(self) -> int:
        return self.store.max_position()

    def recompute(self, upto: int, sizes: Collection[int]) -> Recomputed:
        records = self._records(upto)
        hashes = self._hashes(upto)
        positions = [r.position for r in records]
        return Recomputed(
            size=len(records),
            root=merkle.root(hashes),
            position=positions[-1] if positions else 0,
            roots=merkle.roots_at(sizes, hashes),
            last_positions={n: positions[n - 1] for n in sizes if 0 < n <= len(positions)},
            next_positions={n: positions[n] for n in sizes if 0 <= n < len(positions)},
        )

    def locate(self, upto: int, *, leaves_damaged: bool) -> list[Tampering]:
        # The leaves are derived from the events themselves: they cannot differ.
        return []

    def attempt_positions(
        self,
        tenant_id: str,
        *,
        workload_rt_id: str | None = None,
        attempt: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[int]:
        found = [
            a.position
            for a in FakeReadModel(self.store).attempts()
            if a.tenant_id == tenant_id
            and workload_rt_id in (None, a.workload_rt_id)
            and attempt in (None, a.attempt)
            and (since is None or a.recorded_at >= since)
            and (until is None or a.recorded_at < until)
        ]
        return sorted(found)

    def leaf_indexes(self, positions: list[int]) -> dict[int, int]:
        index = {r.position: n for n, r in enumerate(self._records())}
        return {p: index[p] for p in positions if p in index}

    def leaf_hashes(self, size: int) -> list[bytes]:
        return self._hashes()[:size]

    def leaves_at(self, positions: list[int]) -> dict[int, bytes]:
        wanted = set(positions)
        return {r.position: self._leaf(r) for r in self._records() if r.position in wanted}
