"""The tamper-evident log's tree, kept beside the read model.

Every stored event is a leaf, in global position order (gaps passed over). Its leaf hash
is `SHA-256(0x00 || leaf)`, the leaf being the canonical bytes of
`deployledger.domain.tlog.leaf`. The projection runner appends each batch's leaves in the
transaction that moves its tracking position: `log_state` keeps the compact frontier
(one hash per set bit of the size, so an append is O(log n)), and `log_leaves` each leaf's
hash and position, so that `verify` can say where a change starts.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, delete, func, insert, select, update

from deployledger.domain.tlog.merkle import Frontier
from deployledger.store.events.bulk import bulk_insert
from deployledger.store.events.eventstore import EventStore, rows_after
from deployledger.store.readmodel.tables import log_checkpoints, log_leaves, log_state

LOG = "events"  # the name of the log's row in `log_state`
CHUNK = 20_000  # events read and hashed at a time when the log catches up by itself

Leaf = tuple[int, bytes]  # (global position, leaf hash)

_HEADER = struct.Struct(">Q16sQH")
_HASHED_HEAD = struct.Struct(">xQ16sQ")  # "x" packs the leaf prefix 0x00


def id_bytes(originator: UUID | str) -> bytes:
    """An aggregate id's 16 bytes, from a UUID (PostgreSQL) or its hex text (SQLite)."""
    if isinstance(originator, UUID):
        return originator.bytes
    if len(originator) == 32:
        return bytes.fromhex(originator)
    return UUID(originator).bytes


def leaf_hashes(rows: Sequence[Sequence[Any]]) -> list[bytes]:
    """The leaf hash of each row of `EventStore.leaf_rows` (ids as 16 bytes or hex text):
    `hash_rows` without the positions and the UUID objects, for `verify`'s one pass."""
    sha = hashlib.sha256
    pack = _HASHED_HEAD.pack  # 0x00, then the leaf's position, id and version
    fromhex = bytes.fromhex
    topics: dict[str, bytes] = {}  # topic -> its length (2 bytes) and UTF-8
    hashes: list[bytes] = []
    push = hashes.append
    for position, originator, version, topic, state in rows:
        name = topics.get(topic)
        if name is None:
            encoded = topic.encode()
            name = topics[topic] = len(encoded).to_bytes(2, "big") + encoded
        if type(originator) is str:
            try:
                oid = fromhex(originator)
            except ValueError:  # a dashed UUID
                oid = UUID(originator).bytes
        else:
            oid = originator
        body = state if type(state) is bytes else bytes(state)
        push(sha(pack(position, oid, version) + name + body).digest())
    return hashes


def hash_rows(rows: Iterable[Sequence[Any]]) -> list[Leaf]:
    """The leaf hash of each stored-event row (position, id, version, topic, state).

    The same bytes as `domain.logleaf.leaf_bytes`, built inline: this runs once per event
    in the follower and in `verify`."""
    sha = hashlib.sha256
    pack = _HEADER.pack
    topics: dict[str, bytes] = {}
    leaves: list[Leaf] = []
    for position, originator, version, topic, state in rows:
        name = topics.get(topic)
        if name is None:
            name = topics[topic] = topic.encode()
        head = pack(position, id_bytes(originator), version, len(name))
        body = state if isinstance(state, bytes) else bytes(state)
        leaves.append((position, sha(b"\x00" + head + name + body).digest()))
    return leaves


@dataclass
class LogState:
    """The stored log: how many leaves, the position of the last, and the frontier."""

    size: int
    position: int
    frontier: Frontier
    stored: bool = True

    def root(self) -> bytes:
        return self.frontier.root()


def load_state(conn: Connection) -> LogState:
    """The log's state (an empty log when nothing was ever stored)."""
    row = conn.execute(
        select(log_state.c.size, log_state.c.position, log_state.c.frontier).where(
            log_state.c.name == LOG
        )
    ).first()
    if row is None:
        return LogState(0, 0, Frontier(), stored=False)
    return LogState(row.size, row.position, Frontier.from_bytes(row.size, bytes(row.frontier)))


@dataclass(frozen=True)
class Batch:
    """Leaves a caller already hashed: those of the events after position `after`."""

    after: int
    leaves: list[Leaf]


def advance(
    conn: Connection,
    events: EventStore,
    upto: int,
    batch: Batch | None = None,
    *,
    repair: bool = False,
) -> LogState:
    """Append every event up to position `upto` that the log lacks, inside `conn`'s
    transaction (the caller holds the tracking lock). `batch` saves re-reading and
    re-hashing the events the caller just read, when the log ends where they start.

    A log that was never started is computed from the first event. One whose tables were
    emptied after a checkpoint is left alone unless `repair` (a rebuild) asks for it."""
    state = load_state(conn)
    if state.position >= upto:
        return state
    if not state.stored and not repair and _has_checkpoints(conn):
        # Emptied after checkpoints were made: leave it for `verify` to report and for a
        # rebuild (`repair`) to recompute, rather than hiding it.
        return state
    if batch is not None and batch.after == state.position:
        _append(conn, state, [leaf for leaf in batch.leaves if leaf[0] <= upto])
    else:
        while rows := rows_after(events, state.position, CHUNK, upto=upto):
            _append(conn, state, hash_rows(rows))
    _save(conn, state)
    return state


def _append(conn: Connection, state: LogState, leaves: list[Leaf]) -> None:
    if not leaves:
        return
    first = state.size
    bulk_insert(
        conn,
        log_leaves,
        [
            {"leaf_index": first + i, "position": position, "leaf_hash": digest}
            for i, (position, digest) in enumerate(leaves)
        ],
    )
    state.frontier.extend(digest for _, digest in leaves)
    state.size = first + len(leaves)
    state.position = leaves[-1][0]


def _save(conn: Connection, state: LogState) -> None:
    values = {"size": state.size, "position": state.position}
    values["frontier"] = state.frontier.to_bytes()  # type: ignore[assignment]
    if state.stored:
        conn.execute(update(log_state).where(log_state.c.name == LOG).values(values))
    else:
        conn.execute(insert(log_state).values(name=LOG, **values))
        state.stored = True


def repair(conn: Connection, events: EventStore, upto: int) -> LogState:
    """Recompute the log from the events when its tables disagree with each other (rows
    deleted or emptied), then bring it up to `upto`. The result is only as good as the
    events: `verify` checks them against the checkpoints."""
    state = load_state(conn)
    count, last = conn.execute(select(func.count(), func.max(log_leaves.c.position))).one()
    if count != state.size or (count and last != state.position):
        conn.execute(delete(log_leaves))
        conn.execute(delete(log_state))
    return advance(conn, events, upto, repair=True)


def _has_checkpoints(conn: Connection) -> bool:
    return conn.execute(select(log_checkpoints.c.checkpoint_id).limit(1)).first() is not None
