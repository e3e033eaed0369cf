"""Many inclusion proofs from one pass over the leaves.

`merkle.inclusion_proof` recomputes the tree for each proof; a bundle proves thousands of
leaves against one tree. Here every level is built once: the nodes of a level are hashed
in pairs, and a lone last node is carried up unhashed. That is RFC 9162's tree (the left
subtree of each split is the largest perfect one), so a node at level `k`, index `j`,
is the hash of leaves `[j * 2**k, min((j + 1) * 2**k, n))`, and an audit path is, level
by level from the leaf up, the sibling of the node on the way, where it has one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from deployledger.domain.merkle import EMPTY_ROOT


class Levels:
    """Every level of the tree over `leaf_hashes` (the leaves first, the root last)."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        sha = hashlib.sha256
        level = list(leaf_hashes)
        self.size = len(level)
        self.levels = [level]
        while len(level) > 1:
            up = [
                sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
            ]
            if len(level) % 2:
                up.append(level[-1])
            self.levels.append(up)
            level = up

    def root(self) -> bytes:
        return self.levels[-1][0] if self.size else EMPTY_ROOT

    def path(self, index: int) -> list[bytes]:
        """The audit path of leaf `index` (RFC 9162 section 2.1.3.1), leaf level first."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is not in a tree of {self.size}")
        path: list[bytes] = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return path
