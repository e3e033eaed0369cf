"""Signed checkpoints of the log: C2SP tlog-checkpoint bodies in C2SP signed notes, Ed25519.

A checkpoint commits to the log's size and Merkle root at a time. Its text is the body

```
<origin>\\n
<size, decimal>\\n
<base64 of the 32-byte root>\\n
time <RFC 3339 UTC, whole seconds, Z>\\n
```

(the fourth line is the one extension line), then, when signed, a blank line and one line per
signature: `— <key name> <base64(key id[4] || Ed25519 signature[64])>`. The signature is over
the body's UTF-8 bytes exactly, and the key id is the first 4 bytes of
`SHA-256(key name || "\\n" || 0x01 || public key[32])`, as in golang.org/x/mod/sumdb/note.

Keys are one line each, in that package's formats:

- signing (private): `PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>`
- verifier (public): `<name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>`

Ed25519 PEM (PKCS8 private, SubjectPublicKeyInfo public) also loads; its name is then given by
the caller. Parsing is exact (no CRLF, no extra lines, canonical base64 and numbers), so that a
parsed checkpoint renders back to the very bytes that were signed. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from deployledger.domain.tlog.merkle import HASH_SIZE
from deployledger.errors import InvalidCheckpoint, InvalidKey

__all__ = [
    "Checkpoint",
    "NoteSignature",
    "SignedCheckpoint",
    "SigningKey",
    "VerifierKey",
    "check_signatures",
    "format_time",
    "generate_key",
    "key_id",
    "load_signing_key",
    "load_verifier_key",
    "parse_checkpoint",
    "sign",
]

_ED25519 = b"\x01"  # the signed-note algorithm byte of Ed25519
_DASH = "\u2014 "  # an em dash and a space start every signature line
_MAX_SIGNATURES = 100  # signed-note: verifiers may reject notes with more
_MAX_U64 = (1 << 64) - 1
_SIZE = re.compile(r"0|[1-9][0-9]*")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_HEX_ID = re.compile(r"[0-9a-f]{8}")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes | None:
    """Strict standard base64 with padding, canonical only (re-encodes to `text`)."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    return data if _b64(data) == text else None


def format_time(when: datetime) -> str:
    """RFC 3339 in UTC, whole seconds, `Z`: the checkpoint's time line value."""
    t = when.astimezone(UTC)  # not strftime: "%Y" does not pad years before 1000
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"


def key_id(name: str, public: Ed25519PublicKey) -> bytes:
    """The 4-byte signed-note key id: SHA-256(name || "\\n" || 0x01 || public key)[:4]."""
    raw = public.public_bytes_raw()
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _ED25519 + raw).digest()[:4]


def _key_name_problem(name: str) -> str | None:
    if not name:
        return "a key name must not be empty"
    if "+" in name or any(c.isspace() for c in name) or not name.isprintable():
        return f"key name {name!r} has a plus sign, a space or an unprintable character"
    return None


def _origin_problem(origin: str) -> str | None:
    if not origin:
        return "the origin is empty"
    if origin != origin.strip() or not origin.isprintable():
        return f"origin {origin!r} has leading or trailing space or an unprintable character"
    return None


# -- checkpoints ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """The log's size and root at a time, for the log named `origin`.

    `time` is kept in UTC, truncated to whole seconds (what the text holds); a naive
    datetime, an empty or multi-line origin, a negative size or a root that is not 32
    bytes raises InvalidCheckpoint.
    """

    origin: str
    size: int
    root: bytes
    time: datetime

    def __post_init__(self) -> None:
        problem = _origin_problem(self.origin)
        if problem:
            raise InvalidCheckpoint(problem)
        if isinstance(self.size, bool) or not 0 <= self.size <= _MAX_U64:
            raise InvalidCheckpoint(f"size {self.size!r} is not an unsigned 64-bit integer")
        if len(self.root) != HASH_SIZE:
            raise InvalidCheckpoint(f"the root is {len(self.root)} bytes, not {HASH_SIZE}")
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise InvalidCheckpoint("the checkpoint time must be timezone-aware")
        object.__setattr__(self, "root", bytes(self.root))
        object.__setattr__(self, "time", self.time.astimezone(UTC).replace(microsecond=0))

    def body(self) -> str:
        """The note text: origin, size, base64 root, then the `time` extension line."""
        return f"{self.origin}\n{self.size}\n{_b64(self.root)}\ntime {format_time(self.time)}\n"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key's name and 4-byte id, and the signature bytes
    (64 for Ed25519; other algorithms' lines parse, and never verify here)."""

    key_name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line, newline included."""
        return f"{_DASH}{self.key_name} {_b64(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint and its signatures (none: an unsigned checkpoint)."""

    checkpoint: Checkpoint
    signatures: tuple[NoteSignature, ...] = ()

    def text(self) -> str:
        """The note: the body, then (if signed) a blank line and the signature lines."""
        body = self.checkpoint.body()
        if not self.signatures:
            return body
        return body + "\n" + "".join(s.line() for s in self.signatures)


# -- keys ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class VerifierKey:
    """A named Ed25519 public key, as a signed-note verifier."""

    name: str
    public: Ed25519PublicKey

    def __post_init__(self) -> None:
        problem = _key_name_problem(self.name)
        if problem:
            raise InvalidKey(problem)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VerifierKey):
            return NotImplemented
        return self.to_text() == other.to_text()

    def __hash__(self) -> int:
        return hash(self.to_text())

    def __repr__(self) -> str:
        return f"VerifierKey({self.to_text()!r})"

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id."""
        return key_id(self.name, self.public)

    def to_text(self) -> str:
        """The verifier key line: `<name>+<hex id>+<base64(0x01 || public key)>`."""
        raw = self.public.public_bytes_raw()
        return f"{self.name}+{self.key_id.hex()}+{_b64(_ED25519 + raw)}"

    def verify(self, message: bytes, signature: NoteSignature) -> bool:
        """Whether `signature` is this key's (name and id) valid signature of `message`."""
        if signature.key_name != self.name or signature.key_id != self.key_id:
            return False
        try:
            self.public.verify(signature.signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, eq=False)
class SigningKey:
    """A named Ed25519 private key that signs checkpoints."""

    name: str
    private: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        problem = _key_name_problem(self.name)
        if problem:
            raise InvalidKey(problem)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SigningKey):
            return NotImplemented
        return self.to_text() == other.to_text()

    def __hash__(self) -> int:
        return hash(self.verifier)

    def __repr__(self) -> str:  # never the secret
        return f"SigningKey(name={self.name!r}, key_id={self.verifier.key_id.hex()!r})"

    @property
    def verifier(self) -> VerifierKey:
        """The matching public key."""
        return VerifierKey(self.name, self.private.public_key())

    def to_text(self) -> str:
        """The private key line: `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`."""
        seed = self.private.private_bytes_raw()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{_b64(_ED25519 + seed)}"

    def sign_text(self, text: str) -> NoteSignature:
        """The signed-note signature of `text` (its UTF-8 bytes) by this key."""
        signature = self.private.sign(text.encode("utf-8"))
        return NoteSignature(self.name, self.verifier.key_id, signature)


def generate_key(name: str) -> SigningKey:
    """A new random Ed25519 signing key named `name`."""
    return SigningKey(name, Ed25519PrivateKey.generate())


def _named(found: str, name: str | None) -> str:
    if name is not None and name != found:
        raise InvalidKey(f"the key is named {found!r}, not {name!r}")
    return found


def _key_material(encoded: str, what: str) -> bytes:
    raw = _unb64(encoded)
    if raw is None or len(raw) != 33 or raw[:1] != _ED25519:
        raise InvalidKey(f"{what}: the key material is not base64 of 0x01 and 32 bytes (Ed25519)")
    return raw[1:]


def _check_id(written: str, actual: bytes, what: str) -> None:
    if not _HEX_ID.fullmatch(written):
        raise InvalidKey(f"{what}: key id {written!r} is not 8 lowercase hex digits")
    if bytes.fromhex(written) != actual:
        raise InvalidKey(f"{what}: key id {written} does not match the key ({actual.hex()})")


def load_signing_key(text: str, *, name: str | None = None) -> SigningKey:
    """A signing key from a `PRIVATE+KEY+...` line or an Ed25519 PKCS8 PEM.

    A PEM key needs `name`; a key line carries its own (`name`, if given, must match).
    Raises InvalidKey on anything else.
    """
    text = text.strip()
    if text.startswith("-----BEGIN"):
        if name is None:
            raise InvalidKey("a PEM signing key needs a name")
        try:
            private = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError) as exc:
            raise InvalidKey(f"not an unencrypted PEM private key: {exc}") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise InvalidKey("the PEM private key is not an Ed25519 key")
        return SigningKey(name, private)
    parts = text.split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        hint = " (that looks like a verifier key)" if text.count("+") >= 2 else ""
        raise InvalidKey(f"not a signing key: expected PRIVATE+KEY+<name>+<id>+<key>{hint}")
    found = _named(parts[2], name)
    seed = _key_material(parts[4], "signing key")
    key = SigningKey(found, Ed25519PrivateKey.from_private_bytes(seed))
    _check_id(parts[3], key.verifier.key_id, "signing key")
    return key


def load_verifier_key(text: str, *, name: str | None = None) -> VerifierKey:
    """A verifier key from a `<name>+<id>+<key>` line or an Ed25519 public-key PEM.

    A PEM key needs `name`; a key line carries its own (`name`, if given, must match).
    Raises InvalidKey on anything else (a private key included).
    """
    text = text.strip()
    if text.startswith("-----BEGIN"):
        if name is None:
            raise InvalidKey("a PEM verifier key needs a name")
        if "PRIVATE KEY" in text.split("\n", 1)[0]:
            raise InvalidKey("that is a private key; give the public key")
        try:
            public = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError) as exc:
            raise InvalidKey(f"not a PEM public key: {exc}") from None
        if not isinstance(public, Ed25519PublicKey):
            raise InvalidKey("the PEM public key is not an Ed25519 key")
        return VerifierKey(name, public)
    if text.startswith("PRIVATE+KEY+"):
        raise InvalidKey("that is a private key; give the verifier key")
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise InvalidKey("not a verifier key: expected <name>+<id>+<key>")
    found = _named(parts[0], name)
    raw = _key_material(parts[2], "verifier key")
    key = VerifierKey(found, Ed25519PublicKey.from_public_bytes(raw))
    _check_id(parts[1], key.key_id, "verifier key")
    return key


# -- signing, parsing, checking ------------------------------------------------------------


def sign(cp: Checkpoint, key: SigningKey) -> SignedCheckpoint:
    """The checkpoint signed by `key`."""
    return SignedCheckpoint(cp, (key.sign_text(cp.body()),))


def _parse_body(body: str) -> Checkpoint:
    if not body.endswith("\n"):
        raise InvalidCheckpoint("the checkpoint text must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 4:
        raise InvalidCheckpoint(
            f"the checkpoint has {len(lines)} lines; expected origin, size, root and time"
        )
    if len(lines) > 4:
        raise InvalidCheckpoint(f"line 5: unexpected {lines[4][:40]!r} after the time line")
    origin, size_text, root_text, time_line = lines
    problem = _origin_problem(origin)
    if problem:
        raise InvalidCheckpoint(f"line 1 (origin): {problem}")
    if not _SIZE.fullmatch(size_text) or int(size_text) > _MAX_U64:
        raise InvalidCheckpoint(f"line 2 (size): {size_text[:40]!r} is not a canonical decimal")
    root = _unb64(root_text)
    if root is None or len(root) != HASH_SIZE:
        raise InvalidCheckpoint(
            f"line 3 (root): {root_text[:60]!r} is not canonical base64 of 32 bytes"
        )
    when_text = time_line.removeprefix("time ")
    if when_text == time_line or not _TIME.fullmatch(when_text):
        raise InvalidCheckpoint(
            f"line 4 (time): {time_line[:60]!r} is not 'time YYYY-MM-DDTHH:MM:SSZ'"
        )
    try:
        when = datetime.strptime(when_text, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidCheckpoint(f"line 4 (time): {when_text!r} is not a valid time") from None
    checkpoint = Checkpoint(origin, int(size_text), root, when)
    if checkpoint.body() != body:  # cannot happen with the checks above; never sign loosely
        raise InvalidCheckpoint("the checkpoint text is not in canonical form")
    return checkpoint


def _parse_signature(line: str, number: int) -> NoteSignature:
    if not line.startswith(_DASH):
        raise InvalidCheckpoint(
            f"line {number}: a signature line must start with an em dash and a space"
        )
    parts = line[len(_DASH) :].split(" ")
    if len(parts) != 2:
        raise InvalidCheckpoint(f"line {number}: expected '— <key name> <base64 signature>'")
    name, blob_text = parts
    problem = _key_name_problem(name)
    if problem:
        raise InvalidCheckpoint(f"line {number}: {problem}")
    blob = _unb64(blob_text)
    if blob is None or len(blob) < 5:
        raise InvalidCheckpoint(
            f"line {number}: the signature is not canonical base64 of a key id and signature"
        )
    return NoteSignature(name, blob[:4], blob[4:])


def parse_checkpoint(text: str) -> SignedCheckpoint:
    """A checkpoint note, signed or not, in the exact format `SignedCheckpoint.text()` writes.

    Raises InvalidCheckpoint saying which line is wrong and how. Signatures are only read
    here; `check_signatures` verifies them.
    """
    body, blank, block = text.partition("\n\n")
    if not blank:
        return SignedCheckpoint(_parse_body(text))
    body += "\n"
    checkpoint = _parse_body(body)
    first = body.count("\n") + 2  # the line number of the first signature line
    if not block:
        raise InvalidCheckpoint(f"line {first}: a blank line, but no signature lines follow")
    if not block.endswith("\n"):
        raise InvalidCheckpoint("the last signature line must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise InvalidCheckpoint(f"{len(lines)} signatures: more than {_MAX_SIGNATURES}")
    signatures = tuple(_parse_signature(line, first + i) for i, line in enumerate(lines))
    return SignedCheckpoint(checkpoint, signatures)


def check_signatures(signed: SignedCheckpoint, keys: Sequence[VerifierKey]) -> list[str]:
    """The problems with `signed`'s signatures by `keys`: [] when each key has a signature
    that verifies; else one problem per key ("no signature by key K" or "signature by K
    does not verify"). Signatures by other keys are ignored."""
    message = signed.checkpoint.body().encode("utf-8")
    problems: list[str] = []
    for key in keys:
        kid = key.key_id
        mine = [s for s in signed.signatures if s.key_name == key.name and s.key_id == kid]
        if not mine:
            problems.append(f"no signature by key {key.name} ({kid.hex()})")
        elif not any(key.verify(message, s) for s in mine):
            problems.append(f"signature by {key.name} ({kid.hex()}) does not verify")
    return problems
