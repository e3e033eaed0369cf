"""The offline audit bundle: a tenant's events with the proofs that the log holds them.

A bundle is one JSON document:

```json
{"format": "deployledger-bundle/1",
 "tenant": "T", "since": "RFC 3339 or null", "until": "RFC 3339 or null",
 "checkpoint": "<the signed checkpoint note, verbatim>",
 "entries": [{"index": 12, "leaf": "<base64 leaf bytes>", "path": ["<base64 hash>", ...]}]}
```

Each entry is one leaf of the log (`logleaf`), at tree index `index`, with its RFC 9162
inclusion path to the checkpoint's root. `verify_bundle` trusts nothing in the file but what it
can check, and checks every link (cf. immudb GHSA-672p-m5jq-mrh8, where an unchecked link let a
forged proof pass): the JSON shape and format tag, the checkpoint and, when keys are given, each
key's signature; for each entry its index (in range, strictly increasing), its leaf (parses),
its inclusion path (verifies against the signed root), its state (JSON, of the bundle's
tenant, its workload's id equal to the leaf's aggregate id) and its recording time (inside
[since, until) when those are given). The summary counts verified leaves only.

What a bundle cannot prove: that it holds every event of the tenant in the window (the
`since`/`until` it states are the exporter's claim, checked only against the entries), nor,
with no entries, anything but the checkpoint. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from deployledger.domain.tlog.checkpoints import (
    SignedCheckpoint,
    VerifierKey,
    check_signatures,
    parse_checkpoint,
)
from deployledger.domain.tlog.leaf import LeafEvent, parse_leaf
from deployledger.domain.tlog.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from deployledger.domain.workload.aggregate import workload_id
from deployledger.errors import InvalidBundle, InvalidCheckpoint, LogCorrupt

__all__ = ["ATTEMPT_TOPIC", "FORMAT", "BundleSummary", "build_bundle", "verify_bundle"]

FORMAT = "deployledger-bundle/1"
ATTEMPT_TOPIC = "deployledger:Workload.DeploymentAttempted"
_KEYS = {"format", "tenant", "since", "until", "checkpoint", "entries"}
_ENTRY_KEYS = {"index", "leaf", "path"}
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?Z")
_SHOWN = 20  # problems listed in full; the rest are counted


@dataclass(frozen=True)
class BundleSummary:
    """What a verified bundle proves: computed from its verified leaves, not its metadata
    (except `tenant`, `since` and `until`, which every leaf was checked against)."""

    tenant: str
    since: datetime | None
    until: datetime | None
    attempts: int  # leaves that are deployment attempts (outcomes)
    events: int  # leaves
    first: datetime | None  # earliest recording time of a leaf
    last: datetime | None  # latest recording time of a leaf
    size: int  # the checkpoint's tree size
    root: bytes  # the checkpoint's root
    origin: str  # the checkpoint's origin (the log's name)
    signed_by: tuple[str, ...]  # names of the given keys, each of whose signature verified
    workloads: int  # distinct workloads among the leaves


def _time_text(when: datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidBundle("bundle times must be timezone-aware")
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_bundle(
    tenant: str,
    since: datetime | None,
    until: datetime | None,
    checkpoint: SignedCheckpoint,
    entries: Sequence[tuple[int, bytes, Sequence[bytes]]],
) -> str:
    """The bundle's JSON text; `entries` are (tree index, leaf bytes, inclusion path), written
    sorted by index, one per line."""
    head = {
        "format": FORMAT,
        "tenant": tenant,
        "since": _time_text(since),
        "until": _time_text(until),
        "checkpoint": checkpoint.text(),
    }
    lines = [
        json.dumps({"index": index, "leaf": _b64(leaf), "path": [_b64(p) for p in path]})
        for index, leaf, path in sorted(entries, key=lambda e: e[0])
    ]
    text = json.dumps(head, indent=1).removesuffix("\n}")  # the object, left open
    if not lines:
        return text + ',\n "entries": []\n}\n'
    return text + ',\n "entries": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n"


# -- verification --------------------------------------------------------------------------


class _Reject(Exception):
    """A problem that stops verification (the rest of the bundle cannot be read)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Reject(
            f"a JSON object repeats a key: {sorted(k for k in keys if keys.count(k) > 1)[0]!r}"
        )
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise _Reject(f"{name} is not JSON")


def _unb64(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    return data if _b64(data) == value else None


def _hashes(value: Any) -> list[bytes] | None:
    if not isinstance(value, list):
        return None
    hashes = [_unb64(item) for item in value]
    good = [h for h in hashes if h is not None and len(h) == HASH_SIZE]
    return good if len(good) == len(hashes) else None


def _bundle_time(document: dict[str, Any], field: str) -> datetime | None:
    value = document[field]
    if value is None:
        return None
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise _Reject(f"{field}: {str(value)[:40]!r} is not an RFC 3339 UTC time or null")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise _Reject(f"{field}: {value!r} is not a valid time") from None
    if _time_text(when) != value:
        raise _Reject(f"{field}: {value!r} is not in canonical form")
    return when


def _recorded_at(state: dict[str, Any]) -> datetime | None:
    stamp = state.get("timestamp")
    if not isinstance(stamp, dict) or stamp.get("_type_") != "datetime_iso":
        return None
    data = stamp.get("_data_")
    if not isinstance(data, str):
        return None
    try:
        when = datetime.fromisoformat(data)
    except ValueError:
        return None
    return when if when.utcoffset() is not None else None


@dataclass
class _Leaves:
    """What the verified leaves add up to."""

    events: int = 0
    attempts: int = 0
    first: datetime | None = None
    last: datetime | None = None
    workloads: set[UUID] = field(default_factory=set)

    def add(self, leaf: LeafEvent, recorded: datetime) -> None:
        self.events += 1
        self.attempts += leaf.topic == ATTEMPT_TOPIC
        self.workloads.add(leaf.aggregate_id)
        self.first = recorded if self.first is None else min(self.first, recorded)
        self.last = recorded if self.last is None else max(self.last, recorded)


def _check_state(
    leaf: LeafEvent, tenant: str, since: datetime | None, until: datetime | None
) -> tuple[list[str], datetime | None]:
    try:
        state = json.loads(leaf.state)
    except (ValueError, UnicodeDecodeError):
        return ["its state is not JSON"], None
    if not isinstance(state, dict):
        return ["its state is not a JSON object"], None
    problems: list[str] = []
    tenant_id, rt_id = state.get("tenant_id"), state.get("workload_rt_id")
    if tenant_id != tenant:
        problems.append(f"its tenant is {str(tenant_id)[:40]!r}, not the bundle's {tenant!r}")
    if not isinstance(tenant_id, str) or not isinstance(rt_id, str):
        problems.append("its state has no tenant_id and workload_rt_id")
    elif workload_id(tenant_id, rt_id) != leaf.aggregate_id:
        problems.append("its aggregate id is not the id of its workload")
    recorded = _recorded_at(state)
    if recorded is None:
        problems.append("its state has no valid recording time")
    elif (since is not None and recorded < since) or (until is not None and recorded >= until):
        problems.append(f"it was recorded at {recorded.isoformat()}, outside [since, until)")
    return problems, recorded


def _check_entry(
    raw: Any,
    number: int,
    previous: int,
    signed: SignedCheckpoint,
    window: tuple[str, datetime | None, datetime | None],
    leaves: _Leaves,
) -> tuple[list[str], int]:
    """The problems of entry `number`, and its index (the next entry's `previous`)."""
    if not isinstance(raw, dict) or set(raw) != _ENTRY_KEYS:
        return [f"entry {number}: not an object with index, leaf and path"], previous
    index = raw["index"]
    if type(index) is not int or index < 0:
        return [f"entry {number}: index {str(index)[:20]!r} is not a tree index"], previous
    where = f"entry {number} (index {index})"
    problems: list[str] = []
    size, root = signed.checkpoint.size, signed.checkpoint.root
    if index >= size:
        problems.append(f"{where}: beyond the checkpoint's tree size {size}")
    if index == previous:
        problems.append(f"{where}: a duplicate of the previous entry")
    elif index < previous:
        problems.append(f"{where}: out of order (entries are sorted by index)")
    data = _unb64(raw["leaf"])
    path = _hashes(raw["path"])
    if data is None:
        return [*problems, f"{where}: the leaf is not canonical base64"], max(index, previous)
    if path is None:
        problems.append(f"{where}: the path is not a list of base64 32-byte hashes")
    elif not verify_inclusion(index, size, leaf_hash(data), path, root):
        problems.append(f"{where}: the inclusion proof does not verify against the root")
    try:
        leaf = parse_leaf(data)
    except LogCorrupt as exc:
        return [*problems, f"{where}: {exc}"], max(index, previous)
    state_problems, recorded = _check_state(leaf, *window)
    problems += [f"{where}: {p}" for p in state_problems]
    if not problems and recorded is not None:
        leaves.add(leaf, recorded)
    return problems, max(index, previous)


def _reject(problems: list[str]) -> InvalidBundle:
    shown = "\n".join(f"  {p}" for p in problems[:_SHOWN])
    more = len(problems) - _SHOWN
    tail = f"\n  ... and {more} more" if more > 0 else ""
    head = "invalid bundle" if len(problems) == 1 else f"invalid bundle: {len(problems)} problems"
    return InvalidBundle(f"{head}:\n{shown}{tail}")


def verify_bundle(text: str, keys: Sequence[VerifierKey]) -> BundleSummary:
    """Check every link of a bundle (see the module docstring) and summarise its leaves.

    Raises InvalidBundle listing the problems found. With `keys`, each key must have signed
    the checkpoint; with none, the checkpoint is only parsed (trusted as given).
    """
    try:
        return _verify(text, keys)
    except _Reject as exc:
        raise _reject([str(exc)]) from None


def _verify(text: str, keys: Sequence[VerifierKey]) -> BundleSummary:
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise _Reject(f"not JSON: {exc}") from None
    if not isinstance(document, dict) or set(document) != _KEYS:
        raise _Reject(f"not a bundle: expected an object with {', '.join(sorted(_KEYS))}")
    if document["format"] != FORMAT:
        raise _Reject(f"format {str(document['format'])[:40]!r} is not {FORMAT!r}")
    tenant = document["tenant"]
    if not isinstance(tenant, str) or not tenant:
        raise _Reject("tenant: not a non-empty string")
    since, until = _bundle_time(document, "since"), _bundle_time(document, "until")
    if not isinstance(document["checkpoint"], str):
        raise _Reject("checkpoint: not a string")
    try:
        signed = parse_checkpoint(document["checkpoint"])
    except InvalidCheckpoint as exc:
        raise _Reject(f"checkpoint: {exc}") from None
    problems: list[str] = []
    if keys and not signed.signatures:
        problems += [f"checkpoint: not signed by {key.name}" for key in keys]
    else:
        problems += [f"checkpoint: {p}" for p in check_signatures(signed, keys)]
    entries = document["entries"]
    if not isinstance(entries, list):
        raise _Reject("entries: not a list")
    leaves = _Leaves()
    previous = -1
    for number, raw in enumerate(entries, start=1):
        found, previous = _check_entry(
            raw, number, previous, signed, (tenant, since, until), leaves
        )
        problems += found
    if problems:
        raise _reject(problems)
    cp = signed.checkpoint
    return BundleSummary(
        tenant=tenant,
        since=since,
        until=until,
        attempts=leaves.attempts,
        events=leaves.events,
        first=leaves.first,
        last=leaves.last,
        size=cp.size,
        root=cp.root,
        origin=cp.origin,
        signed_by=tuple(key.name for key in keys),
        workloads=len(leaves.workloads),
    )
