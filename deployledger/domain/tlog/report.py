"""What `verify` and `prove` answer: plain values, printable and comparable."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

ProblemKind = Literal["altered", "deleted", "inserted", "reordered", "checkpoint", "log"]


@dataclass(frozen=True)
class Tampering:
    """One problem `verify` found, with the global position it starts at when known.

    `altered`: the event at `position` is not what was logged; `deleted`: a logged event
    is gone; `inserted`: an event appeared inside the logged range; `reordered`: the event
    at `position` holds what was logged at `other`; `checkpoint`: a checkpoint does not
    match the log, or its signature does not verify; `log`: the log's own tables are
    damaged (a rebuild recomputes them from the events).
    """

    kind: ProblemKind
    position: int | None
    detail: str
    other: int | None = None

    def __str__(self) -> str:
        where = f"position {self.position}" if self.position is not None else "-"
        return f"{self.kind:<10} {where:<18} {self.detail}"


@dataclass(frozen=True)
class StoredCheckpoint:
    """One stored checkpoint: the note is the record, the other fields index it."""

    checkpoint_id: int
    origin: str
    size: int
    created_at: datetime
    note: str


@dataclass(frozen=True)
class LogStatus:
    """The stored log as it is: its size, last position and root (from the frontier), and
    what its leaf table holds (to see rows deleted from it)."""

    stored: bool  # False: never started, or its tables were emptied
    size: int
    position: int
    root: bytes
    leaf_rows: int
    top_index: int | None
    last_leaf_position: int | None

    @property
    def damaged(self) -> bool:
        """Whether the leaf table disagrees with the frontier's row."""
        if not self.stored:
            return self.leaf_rows > 0
        if self.leaf_rows != self.size:
            return True
        return self.size > 0 and (
            self.top_index != self.size - 1 or self.last_leaf_position != self.position
        )


@dataclass
class Recomputed:
    """The log recomputed from the events up to a position, with the root at each size
    asked for and, around each such size, the positions of the leaves on either side."""

    size: int
    root: bytes
    position: int
    roots: dict[int, bytes] = field(default_factory=dict)
    last_positions: dict[int, int] = field(default_factory=dict)
    next_positions: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointCheck:
    """One checkpoint as `verify` checked it."""

    source: str  # "stored #3", or the file it was read from
    origin: str
    size: int
    root: bytes
    time: datetime | None
    signed_by: tuple[str, ...]  # names of the keys whose signature verified
    ok: bool


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of `verify`: the log recomputed from the events, every checkpoint
    checked against it, and each problem found (none when the history is intact)."""

    size: int  # leaves recomputed from the events the log covers
    root: bytes
    position: int  # the last position the log covers
    checkpoints: tuple[CheckpointCheck, ...]
    problems: tuple[Tampering, ...]
    notes: tuple[str, ...] = ()

    @property
    def intact(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class InclusionProof:
    """That one attempt's event is leaf `index` of the log whose checkpoint is given."""

    tenant_id: str
    workload_rt_id: str
    attempt: int
    position: int
    index: int
    size: int
    leaf: bytes  # the canonical leaf bytes (`domain.logleaf`)
    leaf_hash: bytes
    path: tuple[bytes, ...]
    root: bytes
    checkpoint: str  # the checkpoint note it is proven against

    def to_json(self) -> str:
        """The proof as one JSON document (hashes and the leaf in standard base64)."""
        b64 = _b64
        return json.dumps(
            {
                "tenantId": self.tenant_id,
                "workloadRtId": self.workload_rt_id,
                "attempt": self.attempt,
                "position": self.position,
                "index": self.index,
                "treeSize": self.size,
                "leaf": b64(self.leaf),
                "leafHash": b64(self.leaf_hash),
                "auditPath": [b64(h) for h in self.path],
                "root": b64(self.root),
                "checkpoint": self.checkpoint,
            },
            indent=2,
            ensure_ascii=False,
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
