"""The tamper-evident log's reads and writes outside the projection runner: bringing it up
to date, writing checkpoints, and reading leaves for proofs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select

from deployledger.domain.tlog.leaf import leaf_bytes
from deployledger.domain.tlog.report import StoredCheckpoint
from deployledger.store.errors import translated
from deployledger.store.events.eventstore import EventStore
from deployledger.store.readmodel.runner import LIVE, ensure_tracking, lock_position
from deployledger.store.readmodel.tables import deployment_attempts, log_checkpoints, log_leaves
from deployledger.store.tlog import tree as logtree
from deployledger.store.tlog.tree import LogState, id_bytes, load_state

LEAF_CHUNK = 50_000


def sync(events: EventStore, engine: Engine) -> LogState:
    """Bring the log up to the live read model's position, under its tracking lock."""
    with translated(events.url):
        ensure_tracking(engine, LIVE)
        with engine.begin() as conn:
            return logtree.advance(conn, events, lock_position(conn, LIVE))


def state(engine: Engine, events: EventStore) -> LogState:
    """The stored log as it is (nothing advanced)."""
    with translated(events.url), engine.connect() as conn:
        return load_state(conn)


def write_checkpoint(
    events: EventStore,
    engine: Engine,
    note_for: Callable[[int, bytes], tuple[str, datetime, str]],
) -> tuple[StoredCheckpoint, LogState]:
    """Bring the log up to date and store a checkpoint of it, in one transaction.

    `note_for(size, root)` returns (origin, time, note text): the caller builds and signs
    the note, so that this layer never holds a key."""
    with translated(events.url):
        ensure_tracking(engine, LIVE)
        with engine.begin() as conn:
            log = logtree.advance(conn, events, lock_position(conn, LIVE))
            origin, at, note = note_for(log.size, log.root())
            new_id = conn.execute(
                insert(log_checkpoints)
                .values(origin=origin, size=log.size, created_at=at, note=note)
                .returning(log_checkpoints.c.checkpoint_id)
            ).scalar_one()
    return StoredCheckpoint(new_id, origin, log.size, at, note), log


def checkpoints(events: EventStore, engine: Engine) -> list[StoredCheckpoint]:
    """Every stored checkpoint, oldest first."""
    c = log_checkpoints.c
    with translated(events.url), engine.connect() as conn:
        rows = conn.execute(
            select(c.checkpoint_id, c.origin, c.size, c.created_at, c.note).order_by(
                c.checkpoint_id
            )
        ).all()
    return [StoredCheckpoint(*row) for row in rows]


def leaf_hashes(events: EventStore, engine: Engine, size: int) -> list[bytes]:
    """The stored leaf hashes of the first `size` leaves, in order."""
    hashes: list[bytes] = []
    for chunk in stored_leaves(events, engine, upto_index=size):
        hashes.extend(bytes(digest) for _, _, digest in chunk)
    return hashes


def stored_leaves(
    events: EventStore, engine: Engine, *, upto_index: int | None = None
) -> Iterator[list[Any]]:
    """The stored leaves (index, position, hash) in order, a chunk at a time."""
    c = log_leaves.c
    after = -1
    with translated(events.url):
        while True:
            query = select(c.leaf_index, c.position, c.leaf_hash).where(c.leaf_index > after)
            if upto_index is not None:
                query = query.where(c.leaf_index < upto_index)
            with engine.connect() as conn:
                rows = conn.execute(query.order_by(c.leaf_index).limit(LEAF_CHUNK)).all()
            if not rows:
                return
            yield list(rows)
            after = rows[-1][0]


def leaf_counts(events: EventStore, engine: Engine) -> tuple[int, int | None, int | None]:
    """How many leaf rows are stored, the highest index and the highest position."""
    c = log_leaves.c
    with translated(events.url), engine.connect() as conn:
        count, top, last = conn.execute(
            select(func.count(), func.max(c.leaf_index), func.max(c.position))
        ).one()
    return int(count), top, last


def leaf_index_of(events: EventStore, engine: Engine, positions: list[int]) -> dict[int, int]:
    """The leaf index of each of these event positions that the log holds."""
    found: dict[int, int] = {}
    c = log_leaves.c
    with translated(events.url), engine.connect() as conn:
        for start in range(0, len(positions), 500):
            chunk = positions[start : start + 500]
            rows = conn.execute(select(c.position, c.leaf_index).where(c.position.in_(chunk)))
            found.update((int(p), int(i)) for p, i in rows)
    return found


StoredRow = tuple[bytes, int, str, bytes]  # aggregate id (16 bytes), version, topic, state


def rows_at(events: EventStore, positions: list[int]) -> dict[int, StoredRow]:
    """The stored events at these positions (those that exist), as stored."""
    found: dict[int, StoredRow] = {}
    for start in range(0, len(positions), 500):
        chunk = tuple(positions[start : start + 500])
        marks = ", ".join("?" * len(chunk))
        rows = events.query(
            "SELECT {position}, originator_id, originator_version, topic, state FROM {events} "
            f"WHERE {{position}} IN ({marks})",
            chunk,
        )
        for position, originator, version, topic, state in rows:
            found[position] = (id_bytes(originator), version, topic, bytes(state))
    return found


def leaves_at(events: EventStore, positions: list[int]) -> dict[int, bytes]:
    """The canonical leaf bytes of the stored events at these positions (those that exist)."""
    return {p: leaf_bytes(p, *row) for p, row in rows_at(events, positions).items()}


def attempt_positions(
    events: EventStore,
    engine: Engine,
    tenant_id: str,
    *,
    workload_rt_id: str | None = None,
    attempt: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[int]:
    """Positions of a tenant's outcome events (one workload's, one attempt's, or those
    recorded within [since, until)), from the read model, in order."""
    c = deployment_attempts.c
    query = select(c.position).where(c.tenant_id == tenant_id)
    if workload_rt_id is not None:
        query = query.where(c.workload_rt_id == workload_rt_id)
    if attempt is not None:
        query = query.where(c.attempt == attempt)
    if since is not None:
        query = query.where(c.recorded_at >= since)
    if until is not None:
        query = query.where(c.recorded_at < until)
    with translated(events.url), engine.connect() as conn:
        return [int(p) for p in conn.execute(query.order_by(c.position)).scalars()]
