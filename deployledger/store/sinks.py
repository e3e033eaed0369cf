"""Notification sinks in the read model's database (`sinks`, `sink_dead_letters`).

A sink's cursor is the last position it delivered or dead-lettered. It moves in the same
transaction as the sink's bookkeeping (delivered count, failures of the head delivery,
dead letters), so a process that restarts or takes over continues where the last one
committed: at least once, never a gap. What a sink may deliver is read from the read model
(outcomes and undeploys up to the projection's tracked position).

One process at a time delivers for a sink: on PostgreSQL it holds an advisory lock per sink
(the follower's approach), on SQLite an exclusive `flock` on `<store file>.sink-<name>.lock`.
Both end with the process that holds them, however it ends, so another takes over at once.
"""

from __future__ import annotations

import fcntl
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, select, true, update

from deployledger.domain.sinks import DeadLetter, DeliveryItem, Sink, SinkFilter
from deployledger.domain.storeurl import StoreURL
from deployledger.errors import InvalidQuery, StoreUnavailable
from deployledger.projections.rows import attempt_from_row
from deployledger.store.database import LazyEngine, aware, pg_connect
from deployledger.store.errors import translated
from deployledger.store.readmodel.runner import LIVE
from deployledger.store.readmodel.tables import (
    deployment_attempts,
    lifecycle_events,
    projection_tracking,
    sink_dead_letters,
    sinks,
    workload_state,
)

SINK_LOCK_KEY = 0x73696E6B  # "sink": one delivering process per sink (PostgreSQL)


@contextmanager
def _file_lock(url: StoreURL, name: str, stop: threading.Event, wait: bool) -> Iterator[bool]:
    """Hold an exclusive lock on the sink's lock file beside a SQLite store (none for a
    memory store, or where the file cannot be made: then every process delivers)."""
    if url.memory:
        yield True
        return
    try:
        handle = open(f"{url.path}.sink-{name}.lock", "a+b")  # noqa: SIM115 - held while leading
    except OSError:
        yield True
        return
    try:
        while not stop.is_set():
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    yield False
                    return
                stop.wait(0.2)
        yield not stop.is_set()
    finally:
        handle.close()  # releases the lock


def _sink(row: Any, dead: int = 0) -> Sink:
    r = row._mapping
    return Sink(
        name=r["name"],
        kind=r["kind"],
        url=r["url"],
        filter=SinkFilter.parse(r["filter"]),
        spec=r["spec"],
        slack_text=bool(r["slack_text"]),
        max_attempts=r["max_attempts"],
        backoff=r["backoff"],
        timeout=r["timeout"],
        secret=r["secret"],
        position=r["position"],
        created_at=aware(r["created_at"]),
        delivered=r["delivered"],
        failures=r["failures"],
        last_error=r["last_error"],
        next_try_at=aware(r["next_try_at"]),
        dead_letters=dead,
    )


def _dead(row: Any) -> DeadLetter:
    r = row._mapping
    at = aware(r["dead_at"])
    assert at is not None
    return DeadLetter(
        sink=r["sink"],
        position=r["position"],
        tenant_id=r["tenant_id"],
        workload_rt_id=r["workload_rt_id"],
        attempts=r["attempts"],
        error=r["error"],
        dead_at=at,
        retry=bool(r["retry"]),
    )


class SinkStore(LazyEngine):
    """The sinks' rows, their cursors and dead letters; the engine is made on first use."""

    # -- settings ----------------------------------------------------------------------

    def add(self, sink: Sink) -> None:
        with translated(self.url), self.engine.begin() as conn:
            found = conn.execute(select(sinks.c.name).where(sinks.c.name == sink.name)).first()
            if found is not None:
                raise InvalidQuery(f"a sink named {sink.name!r} exists (see `sink list`)")
            conn.execute(
                insert(sinks).values(
                    name=sink.name,
                    kind=sink.kind,
                    url=sink.url,
                    secret=sink.secret,
                    filter=sink.filter.text(),
                    spec=sink.spec,
                    slack_text=sink.slack_text,
                    max_attempts=sink.max_attempts,
                    backoff=sink.backoff,
                    timeout=sink.timeout,
                    position=sink.position,
                    created_at=sink.created_at,
                    delivered=0,
                    failures=0,
                )
            )

    def all(self) -> list[Sink]:
        with translated(self.url), self.engine.connect() as conn:
            dead: dict[str, int] = dict(
                conn.execute(
                    select(sink_dead_letters.c.sink, func.count()).group_by(
                        sink_dead_letters.c.sink
                    )
                ).all()
            )
            rows = conn.execute(select(sinks).order_by(sinks.c.name)).all()
        return [_sink(row, int(dead.get(row.name, 0))) for row in rows]

    def get(self, name: str) -> Sink | None:
        with translated(self.url), self.engine.connect() as conn:
            row = conn.execute(select(sinks).where(sinks.c.name == name)).first()
        return None if row is None else _sink(row)

    def remove(self, name: str) -> bool:
        with translated(self.url), self.engine.begin() as conn:
            conn.execute(delete(sink_dead_letters).where(sink_dead_letters.c.sink == name))
            return conn.execute(delete(sinks).where(sinks.c.name == name)).rowcount > 0

    def read_position(self) -> int:
        """Where the live read model stands: a sink delivers events up to here."""
        with translated(self.url), self.engine.connect() as conn:
            found = conn.execute(
                select(projection_tracking.c.position).where(projection_tracking.c.name == LIVE)
            ).scalar()
        return int(found or 0)

    # -- what to deliver ---------------------------------------------------------------

    def pending(self, after: int, upto: int, limit: int) -> tuple[list[DeliveryItem], int]:
        """The outcomes and undeploys after position `after` up to `upto`, at most `limit`,
        in order, and the position the batch covers (the cursor once all are handled)."""
        if upto <= after:
            return [], after
        a, life = deployment_attempts.c, lifecycle_events.c
        with translated(self.url), self.engine.connect() as conn:
            attempts = [
                r._mapping
                for r in conn.execute(
                    select(deployment_attempts)
                    .where(a.position > after, a.position <= upto)
                    .order_by(a.position)
                    .limit(limit)
                )
            ]
            undeploys = [
                r._mapping
                for r in conn.execute(
                    select(lifecycle_events)
                    .where(life.kind == "undeploy", life.position > after, life.position <= upto)
                    .order_by(life.position)
                    .limit(limit)
                )
            ]
            end = upto
            for rows in (attempts, undeploys):
                if len(rows) == limit:
                    end = min(end, rows[-1]["position"])
            attempts = [r for r in attempts if r["position"] <= end]
            undeploys = [r for r in undeploys if r["position"] <= end]
            items = self._items(conn, after, attempts, undeploys)
        return items, end

    def at(self, positions: list[int]) -> list[DeliveryItem]:
        """The deliveries of these positions (dead letters sent again), in order."""
        if not positions:
            return []
        a, life = deployment_attempts.c, lifecycle_events.c
        items: list[DeliveryItem] = []
        with translated(self.url), self.engine.connect() as conn:
            for position in sorted(positions):
                attempts = [
                    r._mapping
                    for r in conn.execute(select(deployment_attempts).where(a.position == position))
                ]
                undeploys = [
                    r._mapping
                    for r in conn.execute(
                        select(lifecycle_events).where(
                            life.position == position, life.kind == "undeploy"
                        )
                    )
                ]
                items += self._items(conn, position - 1, attempts, undeploys)
        return items

    def _items(
        self, conn: Any, after: int, attempts: list[Any], undeploys: list[Any]
    ) -> list[DeliveryItem]:
        keys = {(r["tenant_id"], r["workload_rt_id"]) for r in (*attempts, *undeploys)}
        if not keys:
            return []
        rt_ids = sorted({k[1] for k in keys})
        a, life, s = deployment_attempts.c, lifecycle_events.c, workload_state.c
        last_success: dict[tuple[str, str], int] = {}
        last_undeploy: dict[tuple[str, str], int] = {}
        states: dict[tuple[str, str], Any] = {}
        for start in range(0, len(rt_ids), 500):
            chunk = rt_ids[start : start + 500]
            for row in conn.execute(
                select(a.tenant_id, a.workload_rt_id, func.max(a.position))
                .where(a.workload_rt_id.in_(chunk), a.success.is_(True), a.position <= after)
                .group_by(a.tenant_id, a.workload_rt_id)
            ):
                last_success[(row[0], row[1])] = int(row[2])
            for row in conn.execute(
                select(life.tenant_id, life.workload_rt_id, func.max(life.position))
                .where(
                    life.workload_rt_id.in_(chunk), life.kind == "undeploy", life.position <= after
                )
                .group_by(life.tenant_id, life.workload_rt_id)
            ):
                last_undeploy[(row[0], row[1])] = int(row[2])
            for row in conn.execute(select(workload_state).where(s.workload_rt_id.in_(chunk))):
                states[(row.tenant_id, row.workload_rt_id)] = row._mapping
        merged = sorted(
            [(r["position"], "outcome", r) for r in attempts]
            + [(r["position"], "undeploy", r) for r in undeploys],
            key=lambda t: t[0],
        )
        items = []
        for position, kind, row in merged:
            key = (row["tenant_id"], row["workload_rt_id"])
            state = states.get(key)
            if kind == "undeploy":
                last_undeploy[key] = position
                items.append(
                    DeliveryItem(
                        position=position,
                        tenant_id=key[0],
                        workload_rt_id=key[1],
                        workload_name=row["workload_name"],
                        pool_name=None if state is None else state["pool_name"],
                        occurred_at=aware(row["occurred_at"]) or datetime.now(UTC),
                    )
                )
                continue
            attempt = attempt_from_row(row)
            first = False
            if attempt.success:
                first = last_success.get(key, 0) <= last_undeploy.get(key, 0)
                last_success[key] = position
            chart_name = attempt.chart_name or (state and state["deployed_chart_name"])
            chart_version = attempt.chart_version
            if attempt.chart_name is None and state is not None:
                chart_version = state["deployed_chart_version"]
            items.append(
                DeliveryItem(
                    position=position,
                    tenant_id=key[0],
                    workload_rt_id=key[1],
                    workload_name=attempt.workload_name,
                    pool_name=attempt.pool_name,
                    occurred_at=attempt.occurred_at,
                    attempt=attempt,
                    first_success=first,
                    chart_name=chart_name or None,
                    chart_version=chart_version,
                )
            )
        return items

    # -- bookkeeping: each call one transaction ----------------------------------------

    def advance(self, name: str, position: int, delivered: int) -> None:
        """Every delivery up to `position` is done (`delivered` of them were sent)."""
        c = sinks.c
        with translated(self.url), self.engine.begin() as conn:
            conn.execute(
                update(sinks)
                .where(c.name == name, c.position < position)
                .values(
                    position=position,
                    delivered=c.delivered + delivered,
                    failures=0,
                    last_error=None,
                    next_try_at=None,
                )
            )

    def failed(
        self,
        name: str,
        position: int,
        delivered: int,
        failures: int,
        error: str,
        retry_at: datetime,
    ) -> None:
        """The delivery after `position` failed (the `failures`-th time); those before it,
        `delivered` of them sent, are done."""
        c = sinks.c
        with translated(self.url), self.engine.begin() as conn:
            conn.execute(
                update(sinks)
                .where(c.name == name, c.position <= position)
                .values(
                    position=position,
                    delivered=c.delivered + delivered,
                    failures=failures,
                    last_error=error[:2000],
                    next_try_at=retry_at,
                )
            )

    def dead(
        self, name: str, item: DeliveryItem, delivered: int, attempts: int, error: str
    ) -> None:
        """Give up on `item`: keep it as a dead letter and move the cursor past it, with the
        `delivered` deliveries before it, in one transaction."""
        c = sinks.c
        with translated(self.url), self.engine.begin() as conn:
            moved = conn.execute(
                update(sinks)
                .where(c.name == name, c.position < item.position)
                .values(
                    position=item.position,
                    delivered=c.delivered + delivered,
                    failures=0,
                    last_error=error[:2000],
                    next_try_at=None,
                )
            ).rowcount
            if moved:
                conn.execute(
                    insert(sink_dead_letters).values(
                        sink=name,
                        position=item.position,
                        tenant_id=item.tenant_id,
                        workload_rt_id=item.workload_rt_id,
                        attempts=attempts,
                        error=error[:2000],
                        dead_at=datetime.now(UTC),
                        retry=False,
                    )
                )

    def dead_letters(
        self, name: str | None = None, *, retry_only: bool = False
    ) -> list[DeadLetter]:
        d = sink_dead_letters.c
        where: list[ColumnElement[bool]] = [] if name is None else [d.sink == name]
        if retry_only:
            where.append(d.retry.is_(True))
        with translated(self.url), self.engine.connect() as conn:
            rows = conn.execute(
                select(sink_dead_letters).where(and_(true(), *where)).order_by(d.sink, d.position)
            ).all()
        return [_dead(row) for row in rows]

    def ask_retry(self, name: str, position: int | None = None) -> int:
        d = sink_dead_letters.c
        where = [d.sink == name] + ([] if position is None else [d.position == position])
        with translated(self.url), self.engine.begin() as conn:
            return int(
                conn.execute(update(sink_dead_letters).where(*where).values(retry=True)).rowcount
            )

    def redelivered(self, name: str, position: int) -> None:
        """A dead letter sent again: it is gone (and counted as delivered)."""
        d = sink_dead_letters.c
        with translated(self.url), self.engine.begin() as conn:
            gone = conn.execute(
                delete(sink_dead_letters).where(d.sink == name, d.position == position)
            ).rowcount
            if gone:
                conn.execute(
                    update(sinks)
                    .where(sinks.c.name == name)
                    .values(delivered=sinks.c.delivered + 1)
                )

    def still_dead(self, name: str, position: int, attempts: int, error: str) -> None:
        d = sink_dead_letters.c
        with translated(self.url), self.engine.begin() as conn:
            conn.execute(
                update(sink_dead_letters)
                .where(d.sink == name, d.position == position)
                .values(retry=False, attempts=d.attempts + attempts, error=error[:2000])
            )

    # -- one deliverer per sink --------------------------------------------------------

    @contextmanager
    def lead(self, name: str, stop: threading.Event, *, wait: bool = True) -> Iterator[bool]:
        """Yield True once this process delivers for sink `name` (holding its lock for as
        long as the block runs), False if `stop` was set first, or at once if another
        process holds it and not `wait`."""
        if not self.url.is_postgres:
            with _file_lock(self.url, name, stop, wait) as held:
                yield held and not stop.is_set()
            return
        with translated(self.url), pg_connect(self.url) as conn:
            key = SINK_LOCK_KEY ^ zlib.crc32(name.encode())
            while not stop.is_set():
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if row and row[0]:
                    break
                if not wait:
                    yield False
                    return
                stop.wait(0.5)
            if stop.is_set():
                yield False
                return
            try:
                yield True
            finally:
                if not conn.closed:
                    try:
                        conn.execute("SELECT pg_advisory_unlock_all()")
                    except Exception as e:  # the session is gone: so is the lock
                        raise StoreUnavailable(f"sink lock session lost: {e}") from None
