"""The tamper-evident log, as pure functions: the RFC 9162 Merkle tree, the leaf bytes of a
stored event, signed checkpoints (C2SP notes, Ed25519), offline audit bundles and the
reports of `verify` and `prove`."""
