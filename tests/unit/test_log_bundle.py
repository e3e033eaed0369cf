"""The offline audit bundle: it verifies, and every tampering is caught."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deployledger.domain.tlog.bundle import FORMAT, BundleSummary, build_bundle, verify_bundle
from deployledger.domain.tlog.checkpoints import (
    Checkpoint,
    SignedCheckpoint,
    SigningKey,
    generate_key,
    sign,
)
from deployledger.domain.tlog.leaf import leaf_bytes
from deployledger.domain.tlog.merkle import inclusion_proof, leaf_hash, root
from deployledger.domain.workload.aggregate import workload_id
from deployledger.errors import InvalidBundle, LogError

KEY = SigningKey("example.com/log", Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32))
T0 = datetime(2026, 11, 1, tzinfo=UTC)
ATTEMPTED = "deployledger:Workload.DeploymentAttempted"
REGISTERED = "deployledger:Workload.Registered"


def state(tenant: str, rt_id: str, when: datetime, **more: Any) -> bytes:
    """An event state as the store keeps it (eventsourcing's JSON transcoding)."""
    fields = {
        "timestamp": {"_type_": "datetime_iso", "_data_": when.isoformat()},
        "tenant_id": tenant,
        "workload_rt_id": rt_id,
        **more,
    }
    return json.dumps(fields, separators=(",", ":")).encode()


def event(
    position: int, tenant: str, rt_id: str, topic: str, hours: float, agg: UUID | None = None
) -> bytes:
    when = T0 + timedelta(hours=hours)
    extra = {"success": True} if topic == ATTEMPTED else {}
    return leaf_bytes(
        position,
        agg or workload_id(tenant, rt_id),
        1,
        topic,
        state(tenant, rt_id, when, **extra),
    )


# A log of two tenants; tenant T's events are at indices 1, 2, 4 and 6.
LEAVES = [
    event(1, "other", "x", REGISTERED, 0),
    event(2, "T", "w1", REGISTERED, 1),
    event(3, "T", "w1", ATTEMPTED, 2),
    event(4, "other", "x", ATTEMPTED, 3),
    event(5, "T", "w2", REGISTERED, 4),
    event(6, "other", "x", ATTEMPTED, 5),
    event(7, "T", "w2", ATTEMPTED, 30),  # the 2nd of November
]
T_INDICES = [1, 2, 4, 6]
HASHES = [leaf_hash(x) for x in LEAVES]
CP = Checkpoint("example.com/log", len(LEAVES), root(HASHES), T0 + timedelta(days=3))
SIGNED = sign(CP, KEY)


def entries(indices: list[int]) -> list[tuple[int, bytes, list[bytes]]]:
    return [(i, LEAVES[i], inclusion_proof(i, HASHES)) for i in indices]


def bundle(
    indices: list[int] = T_INDICES,
    since: datetime | None = T0,
    until: datetime | None = T0 + timedelta(days=2),
    checkpoint: SignedCheckpoint = SIGNED,
    tenant: str = "T",
) -> str:
    return build_bundle(tenant, since, until, checkpoint, entries(indices))


def rejected(text: str, match: str, keys: tuple[Any, ...] = (KEY.verifier,)) -> None:
    with pytest.raises(InvalidBundle, match=match):
        verify_bundle(text, list(keys))


def edit(text: str, fn: Any) -> str:
    document = json.loads(text)
    fn(document)
    return json.dumps(document)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


EXPECTED = BundleSummary(
    tenant="T",
    since=T0,
    until=T0 + timedelta(days=2),
    attempts=2,
    events=4,
    first=T0 + timedelta(hours=1),
    last=T0 + timedelta(hours=30),
    size=7,
    root=root(HASHES),
    origin="example.com/log",
    signed_by=("example.com/log",),
    workloads=2,
)


def test_a_bundle_verifies_and_summarises_its_leaves() -> None:
    text = bundle()
    assert verify_bundle(text, [KEY.verifier]) == EXPECTED
    assert verify_bundle(text, []) == replace(EXPECTED, signed_by=())
    document = json.loads(text)
    assert document["format"] == FORMAT
    assert document["since"] == "2026-11-01T00:00:00Z"
    assert document["checkpoint"] == SIGNED.text()
    assert [e["index"] for e in document["entries"]] == T_INDICES


def test_entries_are_written_sorted_and_times_may_be_open() -> None:
    text = build_bundle("T", None, None, SIGNED, entries([6, 1, 4, 2]))
    assert [e["index"] for e in json.loads(text)["entries"]] == T_INDICES
    summary = verify_bundle(text, [KEY.verifier])
    assert summary == replace(EXPECTED, since=None, until=None)


def test_an_empty_bundle_proves_only_the_checkpoint() -> None:
    text = bundle([])
    assert json.loads(text)["entries"] == []
    summary = verify_bundle(text, [KEY.verifier])
    assert summary == replace(EXPECTED, attempts=0, events=0, first=None, last=None, workloads=0)


def test_build_refuses_naive_times() -> None:
    with pytest.raises(LogError, match="timezone-aware"):
        build_bundle("T", datetime(2026, 1, 1), None, SIGNED, [])


# -- the checkpoint and its signatures --------------------------------------------------------


def test_keys_must_have_signed() -> None:
    other = generate_key("example.com/other")
    rejected(bundle(checkpoint=SignedCheckpoint(CP)), "not signed by example.com/log")
    rejected(bundle(), "no signature by key example.com/other", (other.verifier,))
    rejected(bundle(), "no signature by key example.com/other", (KEY.verifier, other.verifier))
    assert verify_bundle(bundle(checkpoint=SignedCheckpoint(CP)), []) == replace(
        EXPECTED, signed_by=()
    )


def test_a_tampered_checkpoint_is_caught() -> None:
    forged_root = SignedCheckpoint(replace(CP, root=bytes(32)), SIGNED.signatures)
    rejected(bundle(checkpoint=forged_root), "does not verify")
    # Without keys the signature is not checked, but the proofs no longer reach the root.
    rejected(bundle(checkpoint=forged_root), "inclusion proof does not verify", ())
    grown = SignedCheckpoint(replace(CP, size=8), SIGNED.signatures)
    rejected(bundle(checkpoint=grown), "does not verify")
    rejected(bundle(checkpoint=grown), "inclusion proof does not verify", ())
    rejected(
        edit(bundle(), lambda d: d.update(checkpoint=d["checkpoint"] + "x")),
        "checkpoint: .*must end with a newline",
    )


# -- the entries ----------------------------------------------------------------------------


def test_a_tampered_leaf_is_caught() -> None:
    def change_state(d: dict[str, Any]) -> None:
        leaf = base64.b64decode(d["entries"][1]["leaf"]).replace(b'"success":true', b'"success":0')
        d["entries"][1]["leaf"] = b64(leaf)

    rejected(edit(bundle(), change_state), r"entry 2 \(index 2\): the inclusion proof")


def test_a_tampered_path_is_caught() -> None:
    def flip(d: dict[str, Any]) -> None:
        first = base64.b64decode(d["entries"][0]["path"][0])
        d["entries"][0]["path"][0] = b64(bytes([first[0] ^ 1]) + first[1:])

    rejected(edit(bundle(), flip), r"entry 1 \(index 1\): the inclusion proof")
    rejected(
        edit(bundle(), lambda d: d["entries"][0]["path"].pop()), "the inclusion proof does not"
    )
    rejected(
        edit(bundle(), lambda d: d["entries"][0]["path"].append(b64(bytes(32)))),
        "the inclusion proof does not",
    )
    rejected(
        edit(bundle(), lambda d: d["entries"][0]["path"].append(b64(bytes(31)))),
        "not a list of base64 32-byte hashes",
    )


def test_a_tampered_index_is_caught() -> None:
    rejected(edit(bundle(), lambda d: d["entries"][0].update(index=0)), "inclusion proof")
    rejected(edit(bundle(), lambda d: d["entries"][3].update(index=7)), "beyond .* size 7")
    rejected(edit(bundle(), lambda d: d["entries"][0].update(index=-1)), "not a tree index")
    rejected(edit(bundle(), lambda d: d["entries"][0].update(index=True)), "not a tree index")
    rejected(edit(bundle(), lambda d: d["entries"][0].update(index=1.0)), "not a tree index")


def test_duplicates_and_disorder_are_caught() -> None:
    rejected(edit(bundle(), lambda d: d["entries"].insert(1, d["entries"][0])), "a duplicate")
    rejected(edit(bundle(), lambda d: d["entries"].reverse()), "out of order")


def test_leaves_of_another_tenant_or_outside_the_window_are_caught() -> None:
    rejected(bundle([1, 3]), r"entry 2 \(index 3\): its tenant is 'other'")
    rejected(bundle(tenant="other"), "its tenant is 'T', not the bundle's 'other'")
    rejected(bundle(until=T0 + timedelta(days=1)), r"index 6\): it was recorded at .* outside")
    rejected(bundle(since=T0 + timedelta(hours=2)), r"index 1\): it was recorded at .* outside")
    # The window is half-open: `until` itself is outside.
    rejected(bundle(until=T0 + timedelta(hours=30)), r"index 6\): .* outside")
    assert verify_bundle(bundle(until=T0 + timedelta(hours=30, seconds=1)), []).events == 4


def log_with(leaf: bytes) -> tuple[str, list[Any]]:
    """A bundle of one leaf, with a valid proof in a log of its own."""
    leaves = [*LEAVES, leaf]
    hashes = [leaf_hash(x) for x in leaves]
    signed = sign(Checkpoint("example.com/log", len(leaves), root(hashes), T0), KEY)
    text = build_bundle("T", None, None, signed, [(7, leaf, inclusion_proof(7, hashes))])
    return text, [KEY.verifier]


def test_leaves_that_prove_but_do_not_check_out_are_caught() -> None:
    wrong_id = event(8, "T", "w1", ATTEMPTED, 2, agg=workload_id("T", "w2"))
    with pytest.raises(InvalidBundle, match="aggregate id is not the id of its workload"):
        verify_bundle(*log_with(wrong_id))
    with pytest.raises(InvalidBundle, match="shorter than the 34-byte header"):
        verify_bundle(*log_with(b"garbage"))
    not_json = leaf_bytes(8, workload_id("T", "w1"), 1, ATTEMPTED, b"{not json")
    with pytest.raises(InvalidBundle, match="its state is not JSON"):
        verify_bundle(*log_with(not_json))
    no_time = leaf_bytes(
        8, workload_id("T", "w1"), 1, ATTEMPTED, b'{"tenant_id":"T","workload_rt_id":"w1"}'
    )
    with pytest.raises(InvalidBundle, match="no valid recording time"):
        verify_bundle(*log_with(no_time))
    no_ids = leaf_bytes(8, workload_id("T", "w1"), 1, ATTEMPTED, b"[1]")
    with pytest.raises(InvalidBundle, match="not a JSON object"):
        verify_bundle(*log_with(no_ids))


def test_every_problem_is_listed_up_to_a_bound() -> None:
    text = bundle([0, 3, 5], tenant="T")  # three leaves of another tenant
    with pytest.raises(InvalidBundle, match="3 problems") as caught:
        verify_bundle(text, [])
    assert str(caught.value).count("its tenant is 'other'") == 3
    many = build_bundle("T", None, None, SIGNED, [(i, LEAVES[0], []) for i in range(30)])
    with pytest.raises(InvalidBundle, match=r"and \d+ more"):
        verify_bundle(many, [])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "not JSON"),
        ("[]", "not a bundle"),
        ('{"format": 1}', "not a bundle"),
        (bundle().replace('"tenant": "T"', '"tenant": "T", "tenant": "T"'), "repeats a key"),
        (bundle().replace('"index": 1,', '"index": NaN,'), "NaN is not JSON"),
        (bundle().replace(FORMAT, "deployledger-bundle/2"), "format"),
        (bundle().replace('"T"', '""', 1), "tenant"),
        (bundle().replace("2026-11-01T00:00:00Z", "2026-11-01 00:00:00Z"), "since: .* RFC 3339"),
        (bundle().replace("2026-11-03T00:00:00Z", "2026-11-03T00:00:00.000000Z"), "canonical"),
        (bundle().replace("2026-11-01T00:00:00Z", "2026-13-01T00:00:00Z"), "not a valid time"),
        (edit(bundle(), lambda d: d.update(checkpoint=None)), "checkpoint: not a string"),
        (edit(bundle(), lambda d: d.update(entries={})), "entries: not a list"),
        (edit(bundle(), lambda d: d["entries"].append([])), "not an object with index"),
        (edit(bundle(), lambda d: d["entries"][0].update(x=1)), "not an object with index"),
        (edit(bundle(), lambda d: d["entries"][0].update(leaf="AA")), "not canonical base64"),
    ],
)
def test_malformed_bundles(text: str, match: str) -> None:
    rejected(text, match, ())


def test_any_single_byte_edit_is_caught_or_changes_nothing() -> None:
    """Each deletion or ASCII substitution of one byte of a bundle file either makes it fail
    to verify, or leaves the summary as it was, or (the bundle's stated window being its
    exporter's claim, not signed) only moves `since`/`until`, with every leaf still inside."""
    original = bundle().encode()
    keys = [KEY.verifier]
    outcomes = {"rejected": 0, "same": 0, "window moved": 0}
    for i in range(len(original)):
        variants = [original[:i] + original[i + 1 :]]
        variants += [original[:i] + bytes([c]) + original[i + 1 :] for c in b" 0A"]
        variants.append(original[:i] + bytes([original[i] ^ 1]) + original[i + 1 :])
        for data in variants:
            if data == original:
                continue
            try:
                summary = verify_bundle(data.decode("ascii"), keys)
            except (InvalidBundle, UnicodeDecodeError):
                outcomes["rejected"] += 1
                continue
            if summary == EXPECTED:
                outcomes["same"] += 1
                continue
            assert replace(summary, since=EXPECTED.since, until=EXPECTED.until) == EXPECTED, data
            assert summary.since is None or summary.since <= EXPECTED.first  # type: ignore[operator]
            assert summary.until is None or EXPECTED.last < summary.until  # type: ignore[operator]
            outcomes["window moved"] += 1
    assert outcomes["rejected"] > 10 * (outcomes["same"] + outcomes["window moved"])


def test_events_as_the_store_transcodes_them_verify() -> None:
    """The state checks read what eventsourcing's mapper really stores."""
    from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, UUIDAsHex

    from deployledger.domain.workload.aggregate import Workload

    transcoder = JSONTranscoder()
    transcoder.register(DatetimeAsISO())
    transcoder.register(UUIDAsHex())
    mapper: Mapper[UUID] = Mapper(transcoder=transcoder)
    workload = Workload.register("T", "w9")
    workload.trigger_event(
        Workload.DeploymentAttempted,
        tenant_id="T",
        workload_rt_id="w9",
        workload_name="n",
        pool_name=None,
        success=False,
        status_message="boom",
        message_id="m1",
        reported_at=None,
        message_truncated=False,
    )
    leaves = [
        leaf_bytes(p, UUID(str(s.originator_id)), s.originator_version, s.topic, s.state)
        for p, s in enumerate(map(mapper.to_stored_event, workload.collect_events()), start=1)
    ]
    hashes = [leaf_hash(x) for x in leaves]
    signed = sign(Checkpoint("example.com/log", 2, root(hashes), T0), KEY)
    text = build_bundle(
        "T", None, None, signed, [(i, leaves[i], inclusion_proof(i, hashes)) for i in (0, 1)]
    )
    summary = verify_bundle(text, [KEY.verifier])
    assert (summary.events, summary.attempts, summary.workloads) == (2, 1, 1)
    assert summary.first is not None
    assert summary.first <= summary.last  # type: ignore[operator]
