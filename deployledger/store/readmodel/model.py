"""The read model as the service sees it: one object over the projection runner, the
queries and rebuild, on its own engine (the event store's database, or another one)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine

from deployledger.domain.auditfilter import AuditFilter
from deployledger.domain.insights.failure_groups import FailureGroup, ReclassifyResult
from deployledger.domain.insights.stats import DeliveryStats
from deployledger.domain.storeurl import StoreURL
from deployledger.domain.workload.records import (
    Attempt,
    AuditPage,
    Overdue,
    RebuildResult,
    WorkloadState,
)
from deployledger.domain.workload.state import DeploymentState
from deployledger.errors import StoreUnavailable
from deployledger.store.database import make_engine
from deployledger.store.errors import translated
from deployledger.store.events.eventstore import EventStore
from deployledger.store.readmodel import asof as queries_asof
from deployledger.store.readmodel import export as queries_export
from deployledger.store.readmodel import failures as queries_failures
from deployledger.store.readmodel import insights as queries_insights
from deployledger.store.readmodel import queries
from deployledger.store.readmodel.runner import ProjectionRunner
from deployledger.store.rebuild.bluegreen import rebuild
from deployledger.store.tlog.book import LogBook

Progress = Callable[[int, int], None]


class ReadModel:
    """Fleet and audit queries that first catch up on the events, so embedded callers
    read their own writes. The engine is made on first use: a ledger that only writes
    never opens it."""

    def __init__(self, events: EventStore, url: StoreURL) -> None:
        self._events = events
        self.url = url
        self._runner: ProjectionRunner | None = None
        self._lock = threading.Lock()

    @property
    def runner(self) -> ProjectionRunner:
        with self._lock:
            if self._runner is None:
                self._runner = ProjectionRunner(self._events, make_engine(self.url))
            return self._runner

    @property
    def engine(self) -> Engine:
        return self.runner.engine

    @property
    def log(self) -> LogBook:
        """The tamper-evident log kept beside this read model."""
        return LogBook(self._events, self.engine)

    def close(self) -> None:
        if self._runner is not None:
            self._runner.engine.dispose()

    def fleet(
        self, tenant_id: str | None, pool_name: str | None, state: DeploymentState | None
    ) -> list[WorkloadState]:
        self.catch_up()
        with translated(self.url), self.engine.connect() as conn:
            return queries.fleet(conn, tenant_id=tenant_id, pool_name=pool_name, state=state)

    def fleet_at(
        self,
        at: datetime,
        tenant_ids: Sequence[str] | None,
        pool_name: str | None,
        state: DeploymentState | None,
    ) -> list[WorkloadState]:
        self.catch_up()
        with translated(self.url), self.engine.connect() as conn:
            return queries_asof.fleet_at(
                conn, at=at, tenant_ids=tenant_ids, pool_name=pool_name, state=state
            )

    def state_at(self, tenant_id: str, workload_rt_id: str, at: datetime) -> WorkloadState | None:
        self.catch_up()
        with translated(self.url), self.engine.connect() as conn:
            return queries_asof.state_at(conn, tenant_id, workload_rt_id, at)

    def overdue(
        self, older_than: timedelta, tenant_id: str | None, pool: str | None
    ) -> list[Overdue]:
        self.catch_up()
        with translated(self.url), self.engine.connect() as conn:
            return queries.overdue(conn, older_than=older_than, tenant_id=tenant_id, pool=pool)

    def audit(self, query: AuditFilter, *, limit: int, cursor: str | None) -> AuditPage:
        self.catch_up()
        with translated(self.url), self.engine.connect() as conn:
            return queries.audit(conn, query, limit=limit, cursor=cursor)

    def failures(
        self,
        *,
        since: datetime | None,
        tenant_id: str | Sequence[str] | None,
        pool: str | None,
        category: str | None,
        limit: int | None,
    ) -> list[FailureGroup]:
        self.catch_up()
        with translated(self.url), self.engine.connect() as conn:
            return queries_failures.failures(
                conn, since=since, tenant_id=tenant_id, pool=pool, category=category, limit=limit
            )

    def reclassify(self, *, force: bool) -> ReclassifyResult:
        self.catch_up()
        with translated(self.url):
            return queries_failures.reclassify(self.engine, force=force)

    def audit_iter(self, query: AuditFilter) -> Iterator[Attempt]:
        self.catch_up()
        with translated(self.url):
            yield from queries_insights.audit_iter(self.engine, query)

    def audit_csv(self, query: AuditFilter) -> Iterator[bytes]:
        self.catch_up()
        with translated(self.url):
            yield from queries_export.audit_csv(self.engine, query)

    def stats(
        self,
        *,
        by: str,
        since: datetime,
        until: datetime,
        tenants: Sequence[str] | None,
        pool: str | None,
    ) -> list[DeliveryStats]:
        self.catch_up()
        with translated(self.url):
            return queries_insights.stats(
                self.engine, by=by, since=since, until=until, tenants=tenants, pool=pool
            )

    def position(self) -> int:
        return self.runner.position()

    def catch_up(self) -> int:
        return self.runner.catch_up()

    def wait_for(self, position: int, timeout: float) -> None:
        self.runner.wait_for(position, timeout)

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
        self.runner.follow(
            stop,
            poll_interval=poll_interval,
            on_leader=on_leader,
            on_standby=on_standby,
            on_batch=on_batch,
            on_idle=on_idle,
            on_outage=on_outage,
        )

    def rebuild(self, progress: Progress | None) -> RebuildResult:
        return rebuild(self._events, self.engine, progress=progress)
