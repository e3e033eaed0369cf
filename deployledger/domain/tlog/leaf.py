"""The canonical bytes of a stored event, as a leaf of the tamper-evident log.

Each stored event is one leaf; its leaf hash is `SHA-256(0x00 || leaf bytes)` (RFC 9162).
The leaf bytes are, in order:

```
offset  size  field
0       8     position: the event's notification id (log position), unsigned big-endian
8       16    aggregate id: the workload's UUID, its 16 bytes in RFC 4122 order
24      8     version: the event's version within its aggregate, unsigned big-endian
32      2     topic length L in bytes, unsigned big-endian
34      L     topic, UTF-8 (e.g. `deployledger:Workload.DeploymentAttempted`)
34+L    rest  state: the stored event state, byte for byte as stored (JSON)
```

That is `struct.pack(">Q16sQH", position, id, version, L) + topic + state`. Every field the
store keeps of an event is in it, so changing any of them changes the leaf hash; the fixed
header and the length prefix make the encoding unambiguous (no two events share bytes).
Pure: no I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from uuid import UUID

from deployledger.errors import LogCorrupt, LogError

__all__ = ["HEADER_SIZE", "LeafEvent", "leaf_bytes", "parse_leaf"]

_HEADER = struct.Struct(">Q16sQH")
HEADER_SIZE = _HEADER.size  # 34
_MAX_U64 = (1 << 64) - 1


def leaf_bytes(
    position: int, aggregate_id: UUID | bytes, version: int, topic: str, state: bytes
) -> bytes:
    """The leaf bytes of one stored event (see the module docstring).

    Raises LogError if a field cannot be encoded: a position or version outside
    0..2**64-1, an id that is not 16 bytes, a topic over 65535 UTF-8 bytes.
    """
    id16 = aggregate_id.bytes if isinstance(aggregate_id, UUID) else bytes(aggregate_id)
    if len(id16) != 16:
        raise LogError(f"leaf: aggregate id is {len(id16)} bytes, not 16")
    if not 0 <= position <= _MAX_U64:
        raise LogError(f"leaf: position {position} is not an unsigned 64-bit integer")
    if not 0 <= version <= _MAX_U64:
        raise LogError(f"leaf: version {version} is not an unsigned 64-bit integer")
    try:
        name = topic.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LogError(f"leaf: topic {topic!r} is not encodable as UTF-8") from exc
    if len(name) > 0xFFFF:
        raise LogError(f"leaf: topic is {len(name)} bytes, more than 65535")
    return _HEADER.pack(position, id16, version, len(name)) + name + bytes(state)


@dataclass(frozen=True, slots=True)
class LeafEvent:
    """The fields of one leaf: a stored event as the log committed to it."""

    position: int
    aggregate_id: UUID
    version: int
    topic: str
    state: bytes

    def to_bytes(self) -> bytes:
        """The leaf bytes again (`leaf_bytes` of the fields)."""
        return leaf_bytes(self.position, self.aggregate_id, self.version, self.topic, self.state)


def parse_leaf(data: bytes) -> LeafEvent:
    """The fields of leaf bytes; raises LogCorrupt if they are short or garbled."""
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise LogCorrupt(f"leaf: {len(data)} bytes, shorter than the {HEADER_SIZE}-byte header")
    position, id16, version, length = _HEADER.unpack_from(data)
    end = HEADER_SIZE + length
    if len(data) < end:
        raise LogCorrupt(
            f"leaf: the topic is said to be {length} bytes, but only "
            f"{len(data) - HEADER_SIZE} follow the header"
        )
    try:
        topic = data[HEADER_SIZE:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LogCorrupt(f"leaf: the topic is not UTF-8 ({exc.reason})") from exc
    return LeafEvent(position, UUID(bytes=id16), version, topic, data[end:])
