"""Checkpoints, `verify`, inclusion proofs and audit bundles, over the log port.

The store keeps the tree and recomputes it; this module decides what a difference means
and builds what is published: signed checkpoint notes, proofs and bundles.
"""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from deployledger.domain.tlog.bundle import build_bundle
from deployledger.domain.tlog.checkpoints import (
    Checkpoint,
    SignedCheckpoint,
    SigningKey,
    VerifierKey,
    check_signatures,
    parse_checkpoint,
    sign,
)
from deployledger.domain.tlog.leaf import parse_leaf
from deployledger.domain.tlog.merkle import inclusion_proofs, leaf_hash, root, verify_inclusion
from deployledger.domain.tlog.report import (
    CheckpointCheck,
    InclusionProof,
    LogStatus,
    Recomputed,
    Tampering,
    VerifyReport,
)
from deployledger.errors import InvalidCheckpoint, InvalidQuery, LogCorrupt, LogError
from deployledger.service.ports import LogPort

DEFAULT_ORIGIN = "deployledger"
REBUILD = "`deployledger rebuild` recomputes them from the events"


class Schedule:
    """When a follower writes a checkpoint: every `every` new events, or `minutes` after
    the last one when the log grew since (neither: never)."""

    def __init__(self, every: int | None, minutes: float | None) -> None:
        if every is not None and (isinstance(every, bool) or every < 1):
            raise InvalidQuery(f"checkpoint_every must be a positive integer, not {every!r}")
        if minutes is not None and not minutes > 0:
            raise InvalidQuery(f"checkpoint_minutes must be positive, not {minutes!r}")
        self.every, self.minutes = every, minutes
        self.pending = 0
        self.last = time.monotonic()

    @property
    def active(self) -> bool:
        return self.every is not None or self.minutes is not None

    def logged(self, events: int) -> None:
        self.pending += events

    def due(self) -> bool:
        if self.pending == 0:
            return False
        if self.every is not None and self.pending >= self.every:
            return True
        return self.minutes is not None and time.monotonic() - self.last >= self.minutes * 60

    def done(self) -> None:
        self.pending = 0
        self.last = time.monotonic()


def check_origin(origin: str) -> None:
    """Raise `InvalidCheckpoint` for an origin a checkpoint cannot carry."""
    Checkpoint(origin, 0, b"\0" * 32, datetime.now(UTC).replace(microsecond=0)).body()


def make_checkpoint(
    log: LogPort, *, key: SigningKey | None, origin: str, now: datetime
) -> SignedCheckpoint:
    """Bring the log up to date and store a checkpoint of it, signed with `key` if given."""
    at = now.astimezone(UTC).replace(microsecond=0)
    check_origin(origin)  # before any write

    def note_for(size: int, root: bytes) -> tuple[str, datetime, str]:
        checkpoint = Checkpoint(origin, size, root, at)
        signed = sign(checkpoint, key) if key is not None else SignedCheckpoint(checkpoint, ())
        return origin, at, signed.text()

    stored = log.write_checkpoint(note_for)
    return parse_checkpoint(stored.note)


def latest_checkpoint(log: LogPort) -> SignedCheckpoint | None:
    """The newest stored checkpoint, if any."""
    stored = log.checkpoints()
    return parse_checkpoint(stored[-1].note) if stored else None


def verify(
    log: LogPort,
    given: Sequence[tuple[str, SignedCheckpoint]],
    keys: Sequence[VerifierKey],
) -> VerifyReport:
    """Recompute the log from the events; check the log's tables and every checkpoint
    (stored, and `given` as (source, checkpoint)) against it; name each difference."""
    status = log.sync()
    problems: list[Tampering] = []
    checkpoints = _stored(log, problems) + list(given)
    if status.stored:
        upto = max(status.position, status.last_leaf_position or 0)
    else:
        upto = log.max_event_position()
        if upto:
            problems.append(
                Tampering(
                    "log",
                    None,
                    "the log's tables are empty while events exist (were they emptied?): "
                    f"{REBUILD}, and verify then checks them against the checkpoints",
                )
            )
    sizes = {c.checkpoint.size for _, c in checkpoints} | {status.size}
    tree = log.recompute(upto, sizes)
    if status.damaged:
        problems.append(
            Tampering(
                "log",
                None,
                f"the log's leaf table holds {status.leaf_rows} rows for a tree of "
                f"{status.size} leaves: rows were deleted or added; {REBUILD}",
            )
        )
    search = status.damaged or (status.stored and tree.roots.get(status.size) != status.root)
    checks: list[CheckpointCheck] = []
    mismatched: list[tuple[str, Checkpoint]] = []
    for source, signed in checkpoints:
        cp = signed.checkpoint
        signed_by, bad = _signatures(signed, keys)
        problems += [Tampering("checkpoint", None, f"{source}: {p}") for p in bad]
        expected = tree.roots.get(cp.size)
        if expected is None:
            search = True
            problems.append(
                Tampering(
                    "checkpoint",
                    None,
                    f"{source} covers {cp.size} events, but the event store now holds "
                    f"only {tree.size} of them: logged events were deleted, or lost by a "
                    "restore from an older backup or a failover to a standby that had not "
                    f"received them; the first missing is log entry {tree.size + 1} of "
                    f"{cp.size} (the event after position {tree.position})",
                )
            )
        elif expected != cp.root:
            search = True
            mismatched.append((source, cp))
        ok = not bad and expected == cp.root
        checks.append(CheckpointCheck(source, cp.origin, cp.size, cp.root, cp.time, signed_by, ok))
    problems += _shrinking(checkpoints)
    located = log.locate(upto, leaves_damaged=status.damaged) if search and status.stored else []
    problems += located
    good = sorted(c.size for c in checks if c.ok)
    for source, cp in mismatched:
        problems.append(_mismatch(source, cp, tree, located, good))
    if status.stored and not located and tree.roots.get(status.size) != status.root:
        problems.append(
            Tampering(
                "log",
                None,
                "the log's stored root differs from the events' although every leaf "
                f"matches: its state row was altered; {REBUILD}",
            )
        )
    notes = _notes(checkpoints, keys)
    return VerifyReport(tree.size, tree.root, tree.position, tuple(checks), tuple(problems), notes)


def _stored(log: LogPort, problems: list[Tampering]) -> list[tuple[str, SignedCheckpoint]]:
    found: list[tuple[str, SignedCheckpoint]] = []
    for row in log.checkpoints():
        source = f"stored checkpoint #{row.checkpoint_id}"
        try:
            signed = parse_checkpoint(row.note)
        except InvalidCheckpoint as e:
            problems.append(Tampering("checkpoint", None, f"{source} cannot be read: {e}"))
            continue
        cp = signed.checkpoint
        if (cp.size, cp.origin) != (row.size, row.origin):
            problems.append(
                Tampering(
                    "checkpoint",
                    None,
                    f"{source} was rewritten: its row says size {row.size} of {row.origin!r}, "
                    f"its note size {cp.size} of {cp.origin!r}",
                )
            )
        found.append((source, signed))
    return found


def _signatures(
    signed: SignedCheckpoint, keys: Sequence[VerifierKey]
) -> tuple[tuple[str, ...], list[str]]:
    if not keys:
        return (), []
    signed_by = tuple(k.name for k in keys if not check_signatures(signed, [k]))
    return signed_by, check_signatures(signed, keys)


def _shrinking(checkpoints: Sequence[tuple[str, SignedCheckpoint]]) -> list[Tampering]:
    """Checkpoints in the order they were made must not shrink (the log only grows)."""
    problems = []
    ordered = sorted(checkpoints, key=lambda c: c[1].checkpoint.time)
    for (before, a), (after, b) in itertools.pairwise(ordered):
        if b.checkpoint.size < a.checkpoint.size:
            problems.append(
                Tampering(
                    "checkpoint",
                    None,
                    f"{after} (size {b.checkpoint.size}) is smaller than the earlier {before} "
                    f"(size {a.checkpoint.size}): the log shrank",
                )
            )
    return problems


def _mismatch(
    source: str,
    cp: Checkpoint,
    tree: Recomputed,
    located: Sequence[Tampering],
    good: Sequence[int],
) -> Tampering:
    """A checkpoint whose root differs from the events': where the change can lie."""
    below = max((size for size in good if size < cp.size), default=0)
    low = tree.last_positions.get(below, 0)
    high = tree.last_positions.get(cp.size, tree.position)
    inside = [p for p in located if p.position is not None and low < p.position <= high]
    detail = (
        f"{source} (size {cp.size}) has root {_b64(cp.root)}, the events give "
        f"{_b64(tree.roots[cp.size])}"
    )
    if inside:
        return Tampering(
            "checkpoint", inside[0].position, f"{detail}: the first change is at this position"
        )
    later = [size for size in good if size > cp.size]
    if later:
        return Tampering(
            "checkpoint",
            None,
            f"{detail}, while the later checkpoint of size {later[0]} matches: this "
            "checkpoint was rewritten",
        )
    start = tree.next_positions.get(below)
    return Tampering(
        "checkpoint",
        start,
        f"{detail}: either this checkpoint was rewritten, or events from this position on "
        "were altered together with the log's tables",
    )


def _notes(
    checkpoints: Sequence[tuple[str, SignedCheckpoint]], keys: Sequence[VerifierKey]
) -> tuple[str, ...]:
    notes = []
    if not checkpoints:
        notes.append(
            "no checkpoint to check against: only the log's own tables were compared with "
            "the events; publish checkpoints (`deployledger checkpoint`) to anchor them"
        )
    elif not keys:
        notes.append("signatures not checked: give the public key (--key) to check them")
    return tuple(notes)


def prove(
    log: LogPort,
    tenant_id: str,
    workload_rt_id: str,
    attempt: int,
    checkpoint: SignedCheckpoint | None,
) -> InclusionProof:
    """The inclusion proof of one attempt's event against `checkpoint` (default: the
    latest stored one)."""
    status = log.sync()
    positions = log.attempt_positions(tenant_id, workload_rt_id=workload_rt_id, attempt=attempt)
    if not positions:
        raise InvalidQuery(f"no attempt {attempt} of workload {tenant_id}/{workload_rt_id}")
    signed = _against(log, checkpoint)
    position = positions[0]
    hashes, indexes = _tree_for(log, status, signed, [position])
    index = indexes[position]
    leaf = _leaf(log, position, hashes[index])
    path = inclusion_proofs([index], hashes)[index]
    cp = signed.checkpoint
    if not verify_inclusion(index, cp.size, leaf_hash(leaf), path, cp.root):  # pragma: no cover
        raise LogCorrupt("the proof just built does not verify; run `deployledger verify`")
    return InclusionProof(
        tenant_id,
        workload_rt_id,
        attempt,
        position,
        index,
        cp.size,
        leaf,
        leaf_hash(leaf),
        tuple(path),
        cp.root,
        signed.text(),
    )


def export_bundle(
    log: LogPort,
    tenant_id: str,
    since: datetime | None,
    until: datetime | None,
    checkpoint: SignedCheckpoint | None,
) -> tuple[str, int, int]:
    """A bundle of the tenant's attempts recorded in [since, until), each with its proof
    against `checkpoint` (default: the latest stored one). Returns the bundle's JSON, how
    many attempts it holds, and how many matched but are newer than the checkpoint."""
    status = log.sync()
    signed = _against(log, checkpoint)
    positions = log.attempt_positions(tenant_id, since=since, until=until)
    hashes, indexes = _tree_for(log, status, signed, positions, strict=False)
    covered = [p for p in positions if p in indexes]
    leaves = log.leaves_at(covered)
    paths = inclusion_proofs([indexes[p] for p in covered], hashes)
    entries = []
    for position in covered:
        index = indexes[position]
        leaf = leaves.get(position)
        if leaf is None or leaf_hash(leaf) != hashes[index]:
            raise LogCorrupt(
                f"the event at position {position} is not the one logged: run `deployledger verify`"
            )
        entries.append((index, leaf, paths[index]))
    text = build_bundle(tenant_id, since, until, signed, entries)
    return text, len(entries), len(positions) - len(entries)


def _against(log: LogPort, checkpoint: SignedCheckpoint | None) -> SignedCheckpoint:
    if checkpoint is not None:
        return checkpoint
    latest = latest_checkpoint(log)
    if latest is None:
        raise LogError("no checkpoint yet: make one first (`deployledger checkpoint`)")
    return latest


def _tree_for(
    log: LogPort,
    status: LogStatus,
    signed: SignedCheckpoint,
    positions: list[int],
    *,
    strict: bool = True,
) -> tuple[list[bytes], dict[int, int]]:
    """The tree of the checkpoint's size from the stored leaves, checked against its root,
    and the leaf index of each position (those inside that tree)."""
    cp = signed.checkpoint
    if cp.size > status.size:
        raise LogError(
            f"the checkpoint covers {cp.size} events, the log only {status.size}: "
            "run `deployledger verify`"
        )
    hashes = log.leaf_hashes(cp.size)
    if len(hashes) != cp.size:
        raise LogCorrupt(f"the log's leaf table lacks rows: {REBUILD}")
    if root(hashes) != cp.root:
        raise LogError(
            "the log does not match the checkpoint (another log's, or the history was "
            "altered): run `deployledger verify`"
        )
    indexes = {p: i for p, i in log.leaf_indexes(positions).items() if i < cp.size}
    if strict:
        for position in positions:
            if position not in indexes:
                raise LogError(
                    f"the event at position {position} is newer than the checkpoint "
                    f"(size {cp.size}): make a new checkpoint first"
                )
    return hashes, indexes


def _leaf(log: LogPort, position: int, logged: bytes) -> bytes:
    leaf = log.leaves_at([position]).get(position)
    if leaf is None or leaf_hash(leaf) != logged:
        raise LogCorrupt(
            f"the event at position {position} is not the one logged: run `deployledger verify`"
        )
    parse_leaf(leaf)
    return leaf


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
