"""Recompute the log from the events, and find where the events and the logged leaves part.

`scan` streams every event once (hash, append to a frontier) and keeps the root at each
size asked for: the checkpoints' sizes. `locate` runs only when something disagreed: it
walks the events and the stored leaves side by side, by position, and names each change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator

from sqlalchemy import Engine

from deployledger.domain.tlog.leaf import leaf_bytes
from deployledger.domain.tlog.merkle import EMPTY_ROOT, Frontier
from deployledger.domain.tlog.report import Recomputed, Tampering
from deployledger.store.events.eventstore import EventStore
from deployledger.store.tlog.access import StoredRow, rows_at, stored_leaves
from deployledger.store.tlog.tree import Leaf, leaf_hashes

CHUNK = 20_000
MAX_PAIRED = 400  # changed positions compared pairwise to recognise moved events


def scan(events: EventStore, upto: int, sizes: Collection[int]) -> Recomputed:
    """Hash every event at positions <= `upto` into a fresh tree; note the root at each of
    `sizes` (sizes beyond the events are simply absent from `roots`)."""
    wanted = sorted({s for s in sizes if s > 0})
    result = Recomputed(0, EMPTY_ROOT, 0)
    if 0 in sizes:
        result.roots[0] = EMPTY_ROOT
        result.last_positions[0] = 0
    frontier = Frontier()
    size = 0
    following: list[int] = []  # sizes whose next leaf's position is still to be seen
    for rows in events.leaf_rows(0, upto, CHUNK):
        hashes = leaf_hashes(rows)
        if following:
            result.next_positions[following.pop()] = rows[0][0]
        done = 0
        end = size + len(rows)
        while wanted and wanted[0] <= end:
            target = wanted.pop(0)
            frontier.extend(hashes[done : target - size])
            done = target - size
            result.roots[target] = frontier.root()
            result.last_positions[target] = rows[done - 1][0]
            if done < len(rows):
                result.next_positions[target] = rows[done][0]
            else:
                following.append(target)
        frontier.extend(hashes[done:] if done else hashes)
        size = end
        result.position = rows[-1][0]
    if 0 in sizes and size:
        result.next_positions[0] = _first_position(events, upto)
    result.size, result.root = size, frontier.root()
    return result


def _first_position(events: EventStore, upto: int) -> int:
    for rows in events.leaf_rows(0, upto, 1):
        return int(rows[0][0])
    return 0


def _event_leaves(events: EventStore, upto: int) -> Iterator[Leaf]:
    for rows in events.leaf_rows(0, upto, CHUNK):
        yield from zip((row[0] for row in rows), leaf_hashes(rows), strict=True)


def _logged_leaves(events: EventStore, engine: Engine) -> Iterator[Leaf]:
    for chunk in stored_leaves(events, engine):
        for _, position, digest in chunk:
            yield int(position), bytes(digest)


def locate(
    events: EventStore, engine: Engine, upto: int, *, leaves_damaged: bool
) -> list[Tampering]:
    """Every difference between the events at positions <= `upto` and the logged leaves.

    When the log's own tables are known to be damaged (`leaves_damaged`), an event the log
    lacks is a gap in the log, not an inserted event."""
    altered: dict[int, bytes] = {}  # position -> the logged hash
    deleted: dict[int, bytes] = {}
    inserted: list[int] = []
    events_iter = _event_leaves(events, upto)
    logged_iter = _logged_leaves(events, engine)
    ev = next(events_iter, None)
    lg = next(logged_iter, None)
    while ev is not None or lg is not None:
        if lg is None or (ev is not None and ev[0] < lg[0]):
            assert ev is not None
            inserted.append(ev[0])
            ev = next(events_iter, None)
        elif ev is None or lg[0] < ev[0]:
            deleted[lg[0]] = lg[1]
            lg = next(logged_iter, None)
        else:
            if ev[1] != lg[1]:
                altered[ev[0]] = lg[1]
            ev = next(events_iter, None)
            lg = next(logged_iter, None)
    moved = _moved(events, altered, deleted, inserted)
    problems: list[Tampering] = []
    for position, origin in moved.items():
        problems.append(
            Tampering(
                "reordered",
                position,
                f"the event stored at position {position} is the one logged at position {origin}",
                other=origin,
            )
        )
    for position in altered:
        if position not in moved:
            problems.append(
                Tampering("altered", position, "the stored event differs from the logged one")
            )
    for position in deleted:
        if position not in moved.values():
            problems.append(
                Tampering("deleted", position, "a logged event is missing from the event store")
            )
    for position in inserted:
        if position in moved:
            continue
        if leaves_damaged:
            problems.append(Tampering("log", position, "the log has no leaf for this event"))
        else:
            problems.append(
                Tampering("inserted", position, "an event that was never logged, inside the log")
            )
    return sorted(problems, key=lambda p: (p.position or 0, p.kind))


def _moved(
    events: EventStore, altered: dict[int, bytes], deleted: dict[int, bytes], inserted: list[int]
) -> dict[int, int]:
    """Which changed positions now hold an event logged at another position: the event
    moved whole, or only its state was swapped in. Maps the new position to the old."""
    now = list(altered)[:MAX_PAIRED] + inserted[:MAX_PAIRED]
    logged = {
        **dict(list(altered.items())[:MAX_PAIRED]),
        **dict(list(deleted.items())[:MAX_PAIRED]),
    }
    if not now or not logged:
        return {}
    rows = rows_at(events, now)
    moved: dict[int, int] = {}
    for position, (originator, version, topic, state) in rows.items():
        for origin, expected in logged.items():
            if origin == position:
                continue
            whole = leaf_bytes(origin, originator, version, topic, state)
            if _leaf_hash(whole) == expected or _state_only(
                origin, rows.get(origin), state, expected
            ):
                moved[position] = origin
                break
    return moved


def _state_only(origin: int, row: StoredRow | None, state: bytes, expected: bytes) -> bool:
    if row is None:
        return False
    originator, version, topic, _ = row
    return _leaf_hash(leaf_bytes(origin, originator, version, topic, state)) == expected


def _leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()
