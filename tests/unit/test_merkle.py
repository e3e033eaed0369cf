"""The log's Merkle tree against the published RFC 6962 vectors, and by property."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployledger.domain.tlog.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Frontier,
    consistency_proof,
    inclusion_proof,
    inclusion_proofs,
    leaf_hash,
    node_hash,
    root,
    roots_at,
    verify_consistency,
    verify_inclusion,
)
from deployledger.errors import LogCorrupt

h = bytes.fromhex

# Reference data, copied verbatim from github.com/transparency-dev/merkle:
# testonly/constants.go (LeafInputs, RootHashes, NodeHashes) and proof/verify_test.go
# (inclusionProofs, consistencyProofs), the RFC 6962 vectors also used by
# google/certificate-transparency. In verify_test.go the inclusion `leaf` is 1-based; the
# indices below are 0-based (leaf - 1).
LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
ROOTS = [  # by tree size 0..8
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
LEAF_HASHES = [  # NodeHashes()[0]: the leaf hashes of LEAF_INPUTS
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
    h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
    h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
    h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
    h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
]
COMPACT = {  # CompactTrees(): the frontier of each size, via NodeHashes()
    1: [LEAF_HASHES[0]],
    2: [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")],
    3: [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"), LEAF_HASHES[2]],
    4: [h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")],
    5: [h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"), LEAF_HASHES[4]],
    6: [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
    ],
    7: [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        LEAF_HASHES[6],
    ],
    8: [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
}
INCLUSION = [  # (0-based index, tree size, audit path)
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


# -- the published vectors ------------------------------------------------------------------


def test_hash_functions() -> None:
    assert EMPTY_ROOT == ROOTS[0] == hashlib.sha256(b"").digest()
    assert [leaf_hash(x) for x in LEAF_INPUTS] == LEAF_HASHES
    assert node_hash(LEAF_HASHES[0], LEAF_HASHES[1]) == ROOTS[2]


@pytest.mark.parametrize("size", range(9))
def test_published_roots(size: int) -> None:
    assert root(LEAF_HASHES[:size]) == ROOTS[size]
    frontier = Frontier()
    frontier.extend(LEAF_HASHES[:size])
    assert frontier.root() == ROOTS[size]
    assert list(frontier.hashes) == COMPACT.get(size, [])


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_published_inclusion_paths(index: int, size: int, path: list[bytes]) -> None:
    assert inclusion_proof(index, LEAF_HASHES[:size]) == path
    assert verify_inclusion(index, size, LEAF_HASHES[index], path, ROOTS[size])
    # The corruptions transparency-dev's verifierCheck tries: each must fail.
    leaf, good = LEAF_HASHES[index], ROOTS[size]
    probes = [
        (index - 1, size, leaf, path, good),
        (index + 1, size, leaf, path, good),
        (index ^ 2, size, leaf, path, good),
        (index, size * 2, leaf, path, good),
        (index, size // 2, leaf, path, good),
        (index, size, b"WrongLeaf", path, good),
        (index, size, leaf, path, EMPTY_ROOT),
        (index, size, leaf, path, SOME_HASH),
        (index, size, leaf, [*path, b""], good),
        (index, size, leaf, [*path, good], good),
        (index, size, leaf, [b"", *path], good),
        (index, size, leaf, [good, *path], good),
    ]
    if path:
        probes.append((index, size, leaf, path[:-1], good))
    if len(path) > 1:
        probes.append((index, size, leaf, [path[0], SOME_HASH, *path[1:]], good))
    for i in range(len(path)):
        bad = list(path)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((index, size, leaf, bad, good))
    for probe in probes:
        assert not verify_inclusion(*probe), probe


def test_published_inclusion_paths_in_one_walk() -> None:
    for size in (3, 5, 8):
        wanted = [i for i, n, _ in INCLUSION if n == size]
        assert inclusion_proofs(wanted, LEAF_HASHES[:size]) == {
            i: p for i, n, p in INCLUSION if n == size
        }


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_published_consistency_proofs(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(old, LEAF_HASHES[:new]) == proof
    r1, r2 = ROOTS[old], ROOTS[new]
    assert verify_consistency(old, new, r1, r2, proof)
    if not proof:
        return
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((old, new, r1, r2, bad))
    for probe in probes:
        assert not verify_consistency(*probe), probe


def test_edge_cases_of_the_verifiers() -> None:
    one = leaf_hash(b"data")
    assert verify_inclusion(0, 1, one, [], one)
    assert not verify_inclusion(0, 1, one, [], b"")
    assert not verify_inclusion(0, 1, b"", [], one)
    for index, size in [(0, 0), (1, 0), (2, 1), (-1, 1)]:
        assert not verify_inclusion(index, size, SOME_HASH, [], EMPTY_ROOT)
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    assert not verify_consistency(0, 5, SOME_HASH, ROOTS[5], [])  # stricter than Go
    assert not verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert not verify_consistency(3, 3, ROOTS[3], ROOTS[3], [ROOTS[3]])
    assert not verify_consistency(3, 3, ROOTS[3], ROOTS[4], [])
    assert not verify_consistency(4, 3, ROOTS[4], ROOTS[3], [])
    assert not verify_consistency(1, 2, ROOTS[1], ROOTS[2], [])
    with pytest.raises(IndexError):
        inclusion_proof(3, LEAF_HASHES[:3])
    for bad in ([3], [-1, 0]):
        with pytest.raises(IndexError, match="not in a tree of 3"):
            inclusion_proofs(bad, LEAF_HASHES[:3])
    assert inclusion_proofs([], LEAF_HASHES[:3]) == {}
    with pytest.raises(ValueError, match="no tree"):
        consistency_proof(4, LEAF_HASHES[:3])


# -- Frontier -----------------------------------------------------------------------------


def test_frontier_from_bytes_checks_the_length() -> None:
    frontier = Frontier()
    frontier.extend(LEAF_HASHES[:7])
    data = frontier.to_bytes()
    assert len(data) == 3 * HASH_SIZE
    assert Frontier.from_bytes(7, data) == frontier
    for size, blob in [(7, data[:-1]), (7, data + b"x"), (8, data), (6, data), (-1, b"")]:
        with pytest.raises(LogCorrupt, match="log frontier"):
            Frontier.from_bytes(size, blob)
    assert Frontier.from_bytes(0, b"").root() == EMPTY_ROOT


def test_frontier_append_matches_extend() -> None:
    one, other = Frontier(), Frontier()
    for x in LEAF_HASHES:
        one.append(x)
    other.extend(iter(LEAF_HASHES))
    assert one == other
    assert one.size == 8
    assert one.root() == ROOTS[8]


def test_roots_at() -> None:
    got = roots_at([8, 0, 3, 3, 5, 9, 12], iter(LEAF_HASHES))
    assert got == {0: ROOTS[0], 3: ROOTS[3], 5: ROOTS[5], 8: ROOTS[8]}
    assert roots_at([], LEAF_HASHES) == {}
    with pytest.raises(ValueError, match="negative"):
        roots_at([-1], LEAF_HASHES)


# -- properties ---------------------------------------------------------------------------

logs = st.lists(st.binary(max_size=8), min_size=1, max_size=300, unique=True).map(
    lambda leaves: [leaf_hash(x) for x in leaves]
)


def flip(data: bytes, bit: int) -> bytes:
    i = bit // 8 % len(data)
    return data[:i] + bytes([data[i] ^ (1 << (bit % 8))]) + data[i + 1 :]


@settings(max_examples=60, deadline=None)
@given(logs, st.data())
def test_every_inclusion_proof_verifies_and_any_flip_fails(
    hashes: list[bytes], data: st.DataObject
) -> None:
    n = len(hashes)
    top = root(hashes)
    for i in range(n):
        path = inclusion_proof(i, hashes)
        assert verify_inclusion(i, n, hashes[i], path, top)
    some = data.draw(st.lists(st.integers(0, n - 1)))
    assert inclusion_proofs(some, hashes) == {i: inclusion_proof(i, hashes) for i in some}
    i = data.draw(st.integers(0, n - 1))
    path = inclusion_proof(i, hashes)
    bit = data.draw(st.integers(0, 255))
    assert not verify_inclusion(i, n, flip(hashes[i], bit), path, top)
    assert not verify_inclusion(i, n, hashes[i], path, flip(top, bit))
    assert not verify_inclusion(i ^ (1 << (bit % 9)), n, hashes[i], path, top)
    # RFC 9162 binds the tree size only through the path's shape (a size with the same
    # shape verifies too; the signed checkpoint binds size and root), so the size probes
    # are those that change the shape, as in transparency-dev's verifierCheck.
    assert not verify_inclusion(i, n * 2, hashes[i], path, top)
    assert not verify_inclusion(i, n // 2, hashes[i], path, top)
    if path:
        k = data.draw(st.integers(0, len(path) - 1))
        bad = [*path[:k], flip(path[k], bit), *path[k + 1 :]]
        assert not verify_inclusion(i, n, hashes[i], bad, top)


@settings(max_examples=60, deadline=None)
@given(logs, st.data())
def test_every_consistency_proof_verifies_and_any_flip_fails(
    hashes: list[bytes], data: st.DataObject
) -> None:
    n = len(hashes)
    new = root(hashes)
    roots = [root(hashes[:m]) for m in range(n + 1)]
    for m in range(n + 1):
        assert verify_consistency(m, n, roots[m], new, consistency_proof(m, hashes))
    m = data.draw(st.integers(1, n))
    proof = consistency_proof(m, hashes)
    bit = data.draw(st.integers(0, 255))
    assert not verify_consistency(m, n, flip(roots[m], bit), new, proof)
    assert not verify_consistency(m, n, roots[m], flip(new, bit), proof)
    assert not verify_consistency(m ^ (1 << (bit % 9)), n, roots[m], new, proof)
    if proof:  # as for inclusion, the new size is bound through the proof's shape only
        assert not verify_consistency(m, n * 2, roots[m], new, proof)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof[:k], flip(proof[k], bit), *proof[k + 1 :]]
        assert not verify_consistency(m, n, roots[m], new, bad)


@settings(max_examples=60, deadline=None)
@given(logs)
def test_frontier_root_matches_every_prefix_and_round_trips(hashes: list[bytes]) -> None:
    frontier = Frontier()
    assert frontier.root() == EMPTY_ROOT
    for i, x in enumerate(hashes, start=1):
        frontier.append(x)
        assert frontier.size == i
        assert frontier.root() == root(hashes[:i])
        assert len(frontier.hashes) == i.bit_count()
        again = Frontier.from_bytes(i, frontier.to_bytes())
        assert again == frontier
        assert again.root() == frontier.root()
    sizes = sorted({0, len(hashes) // 3, len(hashes) // 2, len(hashes)})
    assert roots_at(sizes, iter(hashes)) == {s: root(hashes[:s]) for s in sizes}
