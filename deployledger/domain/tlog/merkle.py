"""The Merkle tree of the tamper-evident log: RFC 9162 section 2.1, with SHA-256.

A leaf hashes as `SHA-256(0x00 || leaf)`, an interior node as `SHA-256(0x01 || left || right)`,
and the tree head MTH(D[n]) splits D[n] at the largest power of two below n. Everything here
works on leaf hashes already computed (`leaf_hash`), so that the log stores and streams 32-byte
hashes, never whole leaves.

`Frontier` is the compact range of a log: one perfect-subtree hash per set bit of its size,
largest first. It is all the log needs to append a leaf and compute the new root in O(log n),
and `to_bytes` is what the store keeps next to the size.

The verifiers (`verify_inclusion`, `verify_consistency`) answer False, never raise, on any
mismatch: a wrong length, an index out of range, a hash of the wrong size, a path too short or
too long. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from itertools import islice

from deployledger.errors import LogCorrupt

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "consistency_proof",
    "inclusion_proof",
    "inclusion_proofs",
    "leaf_hash",
    "node_hash",
    "root",
    "roots_at",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || leaf)."""
    return _sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over already-hashed leaves; EMPTY_ROOT for none. O(n), iterative.

    Pairing neighbours level by level, and carrying an odd last node up unchanged, builds
    exactly the RFC tree (each left subtree is the largest perfect tree that fits).
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    sha = _sha256
    while len(level) > 1:
        pairs = iter(level)
        nxt = [sha(b"\x01" + a + b).digest() for a, b in zip(pairs, pairs, strict=False)]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1: the audit path of leaf `index`, leaf to root.

    O(n): the sibling subtrees are hashed once each. Raises IndexError if `index` is not
    a leaf of the tree.
    """
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise IndexError(f"leaf {index} is not in a tree of {n} leaves")
    path: list[bytes] = []
    lo, hi = 0, n
    # Walk down from the root, noting each sibling subtree; the path runs bottom up.
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(root(leaf_hashes[lo + k : hi]))
            hi = lo + k
        else:
            path.append(root(leaf_hashes[lo : lo + k]))
            lo = lo + k
    path.reverse()
    return path


def inclusion_proofs(
    indices: Iterable[int], leaf_hashes: Sequence[bytes]
) -> dict[int, list[bytes]]:
    """The audit paths of many leaves at once, in O(n + k log n) rather than k times O(n):
    one walk down the tree that hashes every subtree without a wanted leaf once.

    Same paths as `inclusion_proof`; raises IndexError if an index is not a leaf.
    """
    n = len(leaf_hashes)
    wanted = sorted(set(indices))
    if wanted and not (wanted[0] >= 0 and wanted[-1] < n):
        bad = wanted[0] if wanted[0] < 0 else wanted[-1]
        raise IndexError(f"leaf {bad} is not in a tree of {n} leaves")
    paths: dict[int, list[bytes]] = {i: [] for i in wanted}

    def walk(lo: int, hi: int, inside: list[int]) -> bytes:
        """MTH(D[lo:hi]), noting each sibling on the paths of the wanted leaves inside."""
        if not inside:
            return root(leaf_hashes[lo:hi])
        if hi - lo == 1:
            return leaf_hashes[lo]
        mid = lo + _split(hi - lo)
        cut = bisect_left(inside, mid)
        left = walk(lo, mid, inside[:cut])
        right = walk(mid, hi, inside[cut:])
        for i in inside[:cut]:
            paths[i].append(right)
        for i in inside[cut:]:
            paths[i].append(left)
        return _sha256(b"\x01" + left + right).digest()

    if wanted:
        walk(0, n, wanted)
    return paths


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: whether `path` proves leaf hash `leaf_hash` at `index` of the tree
    of `size` leaves whose root is `root`. False (never an exception) on any mismatch."""
    if not (0 <= index < size) or len(leaf_hash) != HASH_SIZE or len(root) != HASH_SIZE:
        return False
    sha = _sha256
    fn, sn = index, size - 1
    r = leaf_hash
    for p in path:
        if sn == 0 or len(p) != HASH_SIZE:
            return False
        if fn & 1 or fn == sn:
            r = sha(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 2.1.4.1: that the tree of the first `old_size` leaves is a
    prefix of the tree of all of `leaf_hashes`. Empty when old_size is 0 or n.

    Raises ValueError if old_size is negative or beyond the tree.
    """
    n = len(leaf_hashes)
    if not 0 <= old_size <= n:
        raise ValueError(f"no tree of {old_size} leaves within a tree of {n}")
    if old_size in (0, n):
        return []
    # SUBPROOF(m, D[lo:hi], b), unrolled: each step notes one subtree hash; the proof is
    # those hashes in reverse order of discovery.
    proof: list[bytes] = []
    m, lo, hi, whole = old_size, 0, n, True
    while True:
        size = hi - lo
        if m == size:
            if not whole:
                proof.append(root(leaf_hashes[lo:hi]))
            break
        k = _split(size)
        if m <= k:
            proof.append(root(leaf_hashes[lo + k : hi]))
            hi = lo + k
        else:
            proof.append(root(leaf_hashes[lo : lo + k]))
            m -= k
            lo += k
            whole = False
    proof.reverse()
    return proof


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: whether `proof` shows the tree (old_size, old_root) is a prefix of
    (new_size, new_root). False (never an exception) on any mismatch.

    Equal sizes need an empty proof and equal roots; old size 0 needs an empty proof and
    old_root == EMPTY_ROOT (stricter than some verifiers, which accept any old root there).
    """
    if len(old_root) != HASH_SIZE or len(new_root) != HASH_SIZE:
        return False
    if not 0 <= old_size <= new_size:
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof or any(len(p) != HASH_SIZE for p in proof):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new
        path.insert(0, old_root)
    sha = _sha256
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = sha(b"\x01" + c + fr).digest()
            sr = sha(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


class Frontier:
    """The compact range of a log of `size` leaves: the roots of its perfect subtrees, one
    per set bit of `size`, largest first. Appending is O(log n) amortised (one node hash per
    leaf on average); the root folds the subtrees from the right."""

    __slots__ = ("_hashes", "size")

    def __init__(self) -> None:
        self.size = 0
        self._hashes: list[bytes] = []

    def __repr__(self) -> str:
        return f"Frontier(size={self.size})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frontier):
            return NotImplemented
        return self.size == other.size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The perfect-subtree hashes, largest (leftmost) first."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf (its hash): merge the equal-sized subtrees it completes."""
        hashes = self._hashes
        size = self.size
        self.size = size + 1
        sha = _sha256
        h = leaf_hash
        while size & 1:
            h = sha(b"\x01" + hashes.pop() + h).digest()
            size >>= 1
        hashes.append(h)

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append every leaf hash, in order (append's loop, inlined for speed)."""
        hashes = self._hashes
        pop = hashes.pop
        push = hashes.append
        sha = _sha256
        size = self.size
        try:
            for h in leaf_hashes:
                s = size
                while s & 1:
                    h = sha(b"\x01" + pop() + h).digest()
                    s >>= 1
                push(h)
                size += 1
        finally:
            self.size = size

    def root(self) -> bytes:
        """MTH of the leaves so far: node(h1, node(h2, ... hk)); EMPTY_ROOT when empty."""
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        sha = _sha256
        r = hashes[-1]
        for h in reversed(hashes[:-1]):
            r = sha(b"\x01" + h + r).digest()
        return r

    def to_bytes(self) -> bytes:
        """The subtree hashes concatenated, largest first (the size is kept separately)."""
        return b"".join(self._hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        """The frontier of a log of `size` leaves from `to_bytes()` output.

        Raises LogCorrupt if `data` is not 32 bytes per set bit of `size`.
        """
        if size < 0:
            raise LogCorrupt(f"log frontier: negative size {size}")
        want = HASH_SIZE * size.bit_count()
        if len(data) != want:
            raise LogCorrupt(f"log frontier: {len(data)} bytes for size {size}, expected {want}")
        frontier = cls()
        frontier.size = size
        frontier._hashes = [bytes(data[i : i + HASH_SIZE]) for i in range(0, want, HASH_SIZE)]
        return frontier


def roots_at(sizes: Iterable[int], leaf_hashes: Iterable[bytes]) -> dict[int, bytes]:
    """The root at each of `sizes`, streaming `leaf_hashes` once through a Frontier.

    Reads no further than the largest size. A size the stream does not reach (the log is
    shorter) is absent from the answer; a negative size raises ValueError.
    """
    wanted = sorted(set(sizes))
    if wanted and wanted[0] < 0:
        raise ValueError(f"negative tree size {wanted[0]}")
    frontier = Frontier()
    stream = iter(leaf_hashes)
    found: dict[int, bytes] = {}
    for size in wanted:
        frontier.extend(islice(stream, size - frontier.size))
        if frontier.size < size:
            break
        found[size] = frontier.root()
    return found
