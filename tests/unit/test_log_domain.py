"""The log's leaf encoding, and its signed checkpoints and keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from deployledger.domain.tlog.checkpoints import (
    Checkpoint,
    NoteSignature,
    SignedCheckpoint,
    SigningKey,
    check_signatures,
    generate_key,
    load_signing_key,
    load_verifier_key,
    parse_checkpoint,
    sign,
)
from deployledger.domain.tlog.leaf import HEADER_SIZE, LeafEvent, leaf_bytes, parse_leaf
from deployledger.errors import InvalidCheckpoint, InvalidKey, LogCorrupt, LogError

# -- leaves --------------------------------------------------------------------------------

AGG = UUID("12345678-9abc-def0-1234-56789abcdef0")


def test_leaf_layout() -> None:
    data = leaf_bytes(7, AGG, 3, "t:X", b'{"a":1}')
    assert data == (
        (7).to_bytes(8, "big") + AGG.bytes + (3).to_bytes(8, "big") + b"\x00\x03t:X" + b'{"a":1}'
    )
    assert leaf_bytes(7, AGG.bytes, 3, "t:X", b'{"a":1}') == data
    assert parse_leaf(data) == LeafEvent(7, AGG, 3, "t:X", b'{"a":1}')
    assert parse_leaf(data).to_bytes() == data


@given(
    st.integers(0, 2**64 - 1),
    st.uuids(),
    st.integers(0, 2**64 - 1),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.binary(max_size=200),
)
def test_leaf_round_trip(position: int, agg: UUID, version: int, topic: str, state: bytes) -> None:
    data = leaf_bytes(position, agg, version, topic, state)
    assert parse_leaf(data) == LeafEvent(position, agg, version, topic, state)
    assert parse_leaf(data).to_bytes() == data


def test_garbled_leaves_are_refused() -> None:
    data = leaf_bytes(1, AGG, 1, "topic", b"{}")
    with pytest.raises(LogCorrupt, match="shorter than the 34-byte header"):
        parse_leaf(data[: HEADER_SIZE - 1])
    with pytest.raises(LogCorrupt, match="only 4 follow"):
        parse_leaf(data[: HEADER_SIZE + 4])
    bad_topic = data[:HEADER_SIZE] + b"\xfftopi" + b"{}"
    with pytest.raises(LogCorrupt, match="not UTF-8"):
        parse_leaf(bad_topic)


def test_unencodable_leaves_are_refused() -> None:
    for args in [
        (-1, AGG, 1, "t", b""),
        (2**64, AGG, 1, "t", b""),
        (1, AGG, -1, "t", b""),
        (1, b"short", 1, "t", b""),
        (1, AGG, 1, "x" * 65536, b""),
        (1, AGG, 1, "\ud800", b""),
    ]:
        with pytest.raises(LogError, match="leaf"):
            leaf_bytes(*args)  # type: ignore[arg-type]


# -- keys: golang.org/x/mod/sumdb/note and C2SP signed-note vectors ------------------------

# The example key and note of golang.org/x/mod/sumdb/note (note.go package doc and
# note_test.go; the Enoch key is from note_test.go), and the example of the C2SP
# signed-note specification (c2sp.org/signed-note, "Verifier keys"); copied verbatim.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = (
    "\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
ENOCH_SIG = (
    "\u2014 EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_TEXT = "This is an example message.\n"
SPEC_SIG = (
    "\u2014 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def signature_of(line: str) -> NoteSignature:
    """A signature line of a note that is not a checkpoint, read the same way."""
    import base64

    name, blob = line.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = base64.b64decode(blob)
    return NoteSignature(name, raw[:4], raw[4:])


def test_go_sumdb_note_key_formats_and_signature() -> None:
    key = load_signing_key(GO_SKEY)
    assert key.name == "PeterNeumann"
    assert key.to_text() == GO_SKEY
    assert key.verifier.to_text() == GO_VKEY
    assert key.verifier.key_id.hex() == "c74f20a3"
    assert load_verifier_key(GO_VKEY) == key.verifier
    # Ed25519 is deterministic: the same key and text give Go's very signature line.
    assert key.sign_text(GO_TEXT).line() == GO_SIG
    assert signature_of(GO_SIG) == key.sign_text(GO_TEXT)
    message = GO_TEXT.encode()
    assert key.verifier.verify(message, signature_of(GO_SIG))
    enoch = load_verifier_key(ENOCH_VKEY)
    assert enoch.key_id.hex() == "af0cfe78"
    assert enoch.verify(message, signature_of(ENOCH_SIG))
    assert not enoch.verify(message, signature_of(GO_SIG))
    assert not enoch.verify(message + b" ", signature_of(ENOCH_SIG))


def test_c2sp_signed_note_example() -> None:
    key = load_verifier_key(SPEC_VKEY)
    assert key.name == "example.com/foo"
    assert key.key_id.hex() == "530d903a"
    assert key.to_text() == SPEC_VKEY
    assert key.verify(SPEC_TEXT.encode(), signature_of(SPEC_SIG))


def test_pem_keys() -> None:
    private = Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key = load_signing_key(pem, name="example.com/log")
    assert key == SigningKey("example.com/log", private)
    assert load_verifier_key(public_pem, name="example.com/log") == key.verifier
    with pytest.raises(InvalidKey, match="needs a name"):
        load_signing_key(pem)
    with pytest.raises(InvalidKey, match="needs a name"):
        load_verifier_key(public_pem)
    with pytest.raises(InvalidKey, match="private key"):
        load_verifier_key(pem, name="x")
    ec_pem = (
        generate_private_key(SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(InvalidKey, match="not an Ed25519"):
        load_signing_key(ec_pem, name="x")
    encrypted = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()
    with pytest.raises(InvalidKey, match="unencrypted PEM"):
        load_signing_key(encrypted, name="x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a signing key"),
        (GO_VKEY, "looks like a verifier key"),
        (GO_SKEY.replace("c74f20a3", "c74f20a4"), "does not match"),
        (GO_SKEY.replace("c74f20a3", "C74F20A3"), "8 lowercase hex"),
        (GO_SKEY[:-1], "not base64"),
        (GO_SKEY.replace("+AYEK", "+AiEK"), "not base64 of 0x01"),
        (GO_SKEY.replace("PeterNeumann", "Peter Neumann"), "key name"),
        ("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----", "PEM"),
    ],
)
def test_bad_signing_keys(text: str, message: str) -> None:
    with pytest.raises(InvalidKey, match=message):
        load_signing_key(text, name="x" if text.startswith("-----") else None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a verifier key"),
        (GO_SKEY, "private key"),
        (GO_VKEY.replace("c74f20a3", "00000000"), "does not match"),
        (GO_VKEY + "=", "not base64"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "must not be empty"),
    ],
)
def test_bad_verifier_keys(text: str, message: str) -> None:
    with pytest.raises(InvalidKey, match=message):
        load_verifier_key(text)


def test_a_given_name_must_match_the_key_line() -> None:
    assert load_signing_key(GO_SKEY + "\n", name="PeterNeumann").name == "PeterNeumann"
    with pytest.raises(InvalidKey, match="not 'Other'"):
        load_signing_key(GO_SKEY, name="Other")
    with pytest.raises(InvalidKey, match="not 'Other'"):
        load_verifier_key(GO_VKEY, name="Other")


def test_generated_keys_round_trip_and_hide_the_secret() -> None:
    key = generate_key("log.example/a")
    assert load_signing_key(key.to_text()) == key
    assert load_verifier_key(key.verifier.to_text()) == key.verifier
    assert key.to_text().split("+")[4][:8] not in repr(key)
    assert "PRIVATE" not in repr(key)


# -- checkpoints ---------------------------------------------------------------------------

SEED_KEY = SigningKey("example.com/log", Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32))
ROOT8 = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
WHEN = datetime(2026, 11, 30, 22, 40, tzinfo=UTC)
CP = Checkpoint("example.com/log", 8, ROOT8, WHEN)
# Computed by this module for the fixed seed (32 bytes of 0x01) and pinned against
# regressions; the format itself is anchored by the sumdb/note vectors above.
GOLDEN = (
    "example.com/log\n"
    "8\n"
    "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
    "time 2026-11-30T22:40:00Z\n"
    "\n"
    "\u2014 example.com/log "
    "m+XTxtT6HjScnIdgIwTep+poJyv831Ei4n6uGrWCPZ56RlqqW7hWuwDmjPa8ZxuaYaezC+vzvsJCVDGkJaEcQI7Ypwo=\n"
)


def test_checkpoint_golden_text() -> None:
    assert SEED_KEY.verifier.to_text() == (
        "example.com/log+9be5d3c6+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c"
    )
    signed = sign(CP, SEED_KEY)
    assert signed.text() == GOLDEN
    assert CP.body() == GOLDEN.split("\n\n")[0] + "\n"
    assert parse_checkpoint(GOLDEN) == signed
    assert check_signatures(signed, [SEED_KEY.verifier]) == []
    unsigned = SignedCheckpoint(CP, ())
    assert unsigned.text() == CP.body()
    assert parse_checkpoint(CP.body()) == unsigned


def test_checkpoint_time_is_utc_whole_seconds() -> None:
    cp = Checkpoint(
        "o", 1, ROOT8, datetime(2026, 1, 1, 1, 2, 3, 999, tzinfo=timezone(timedelta(hours=2)))
    )
    assert cp.time == datetime(2025, 12, 31, 23, 2, 3, tzinfo=UTC)
    assert cp.body().endswith("time 2025-12-31T23:02:03Z\n")
    with pytest.raises(InvalidCheckpoint, match="timezone-aware"):
        Checkpoint("o", 1, ROOT8, datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("origin", "size", "root", "message"),
    [
        ("", 1, ROOT8, "empty"),
        (" o", 1, ROOT8, "leading or trailing"),
        ("a\nb", 1, ROOT8, "unprintable"),
        ("o", -1, ROOT8, "unsigned 64-bit"),
        ("o", 2**64, ROOT8, "unsigned 64-bit"),
        ("o", 1, ROOT8[:31], "not 32"),
    ],
)
def test_bad_checkpoints(origin: str, size: int, root: bytes, message: str) -> None:
    with pytest.raises(InvalidCheckpoint, match=message):
        Checkpoint(origin, size, root, WHEN)


@given(
    st.text(st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1),
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.datetimes(timezones=st.just(UTC)),
)
def test_parse_inverts_text(origin: str, size: int, root: bytes, when: datetime) -> None:
    if not origin.isprintable():
        return
    cp = Checkpoint(origin, size, root, when)
    for signed in (SignedCheckpoint(cp), sign(cp, SEED_KEY)):
        assert parse_checkpoint(signed.text()) == signed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("o\n1\n", "has 2 lines"),
        (GOLDEN.replace("\n8\n", "\n08\n"), "line 2 \\(size\\)"),
        (GOLDEN.replace("\n8\n", "\n+8\n"), "line 2 \\(size\\)"),
        (GOLDEN.replace("Qyg=", "Qyh="), "line 3 \\(root\\)"),  # non-canonical base64
        (GOLDEN.replace("time 2026", "Time 2026"), "line 4 \\(time\\)"),
        (GOLDEN.replace("22:40:00Z", "22:40:00+00:00"), "line 4 \\(time\\)"),
        (GOLDEN.replace("11-30T", "11-31T"), "not a valid time"),
        (GOLDEN.replace("22:40:00Z\n", "22:40:00Z\nextra\n"), "line 5"),
        (GOLDEN.replace("\n", "\r\n"), "line"),
        (GOLDEN.rstrip("\n"), "must end with a newline"),
        (CP.body() + "\n", "no signature lines"),
        (GOLDEN.replace("\u2014 ", "- "), "line 6: a signature line must start"),
        (GOLDEN.replace("\u2014 example.com/log ", "\u2014 example.com/log  "), "line 6"),
        (GOLDEN.replace("Ypwo=", "Ypwp="), "line 6: the signature is not canonical"),
        (CP.body() + "\n\u2014 k AAAA\n", "line 6: the signature is not canonical base64"),
    ],
)
def test_bad_checkpoint_text(text: str, message: str) -> None:
    with pytest.raises(InvalidCheckpoint, match=message):
        parse_checkpoint(text)


def test_check_signatures_problems() -> None:
    other = generate_key("example.com/other")
    renamed = SigningKey("example.com/log2", SEED_KEY.private)
    signed = sign(CP, SEED_KEY)
    assert check_signatures(signed, []) == []
    assert check_signatures(signed, [other.verifier]) == [
        f"no signature by key example.com/other ({other.verifier.key_id.hex()})"
    ]
    assert check_signatures(signed, [renamed.verifier])[0].startswith("no signature by key")
    assert check_signatures(SignedCheckpoint(CP), [SEED_KEY.verifier])[0].startswith(
        "no signature by key example.com/log"
    )
    forged = SignedCheckpoint(CP, (sign(Checkpoint("x", 8, ROOT8, WHEN), SEED_KEY).signatures))
    assert check_signatures(forged, [SEED_KEY.verifier]) == [
        "signature by example.com/log (9be5d3c6) does not verify"
    ]
    both = SignedCheckpoint(CP, (*sign(CP, other).signatures, *signed.signatures))
    assert check_signatures(both, [SEED_KEY.verifier, other.verifier]) == []
    assert parse_checkpoint(both.text()) == both


def test_every_single_character_edit_is_caught() -> None:
    """Each deletion, insertion or substitution of one character anywhere in a signed
    checkpoint either fails to parse or fails the signature check."""
    verifier = [SEED_KEY.verifier]
    edits = 0
    for i in range(len(GOLDEN) + 1):
        variants = [GOLDEN[:i] + c + GOLDEN[i:] for c in "x0 \n=+/A"]
        if i < len(GOLDEN):
            variants.append(GOLDEN[:i] + GOLDEN[i + 1 :])
            variants += [GOLDEN[:i] + c + GOLDEN[i + 1 :] for c in "x09 \n=+/AaZ\u2014"]
        for text in variants:
            if text == GOLDEN:
                continue
            edits += 1
            try:
                signed = parse_checkpoint(text)
            except InvalidCheckpoint:
                continue
            assert check_signatures(signed, verifier), repr(text)
    assert edits > 2000
