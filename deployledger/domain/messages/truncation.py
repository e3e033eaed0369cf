"""Status messages over the size limit: kept, with the middle cut out. Pure.

helm prints its real error last (`Error: UPGRADE FAILED: ...`) after pages of `--debug`
output, so the first half and the last half of the budget are kept, around a marker that
states the original size in bytes and its SHA-256, so the original can still be matched
against a copy kept elsewhere.
"""

from __future__ import annotations

import hashlib
import re

MARKER = "\n[deployledger: {cut} bytes cut from the middle of {size} (sha256 {digest})]\n"


def utf8_size(message: str) -> int:
    return len(message.encode("utf-8", "surrogatepass"))


def cut_middle(message: str, limit: int) -> str:
    """`message` cut to at most `limit` bytes of UTF-8 (characters are never split), with
    the marker in the middle; a message within the limit is returned as it is. The marker
    takes about 110 bytes: with a smaller limit only the marker is kept."""
    raw = message.encode("utf-8")
    if len(raw) <= limit:
        return message
    digest = hashlib.sha256(raw).hexdigest()
    size = len(raw)
    marker = MARKER.format(cut=size, size=size, digest=digest)
    budget = max(0, limit - len(marker.encode("utf-8")))  # the real marker is never longer
    head = raw[: budget // 2].decode("utf-8", "ignore")
    tail = raw[size - (budget - budget // 2) :].decode("utf-8", "ignore") if budget else ""
    cut = size - utf8_size(head) - utf8_size(tail)
    return head + MARKER.format(cut=cut, size=size, digest=digest) + tail


# The upstream operator's failure message: `helm {operation} failed with exit code {N}.
# stderr: {stderr}`, where operation is e.g. `upgrade --install my-release` or `repo add x`.
_HELM_FAILURE = re.compile(r"helm (\S.*?) failed with exit code (-?\d{1,10})\. stderr: ", re.DOTALL)


def helm_failure(message: str | None) -> tuple[str | None, int | None]:
    """(helm operation, exit code) of a message in the upstream operator's format, else
    (None, None). The message itself is not changed."""
    if message is None:
        return None, None
    match = _HELM_FAILURE.match(message)
    if match is None:
        return None, None
    return match.group(1), int(match.group(2))
