"""The domain: what a deployment history is, with no I/O.

Sub-packages: `messages` (the wire models of the four lifecycle messages and their
parser), `workload` (the aggregate, its events, the one fold, the answers), `insights`
(failure categories and fingerprints, delivery metrics, the export columns) and `tlog`
(the tamper-evident log: Merkle tree, leaves, checkpoints, bundles). May import only
`deployledger.errors`, the standard library, pydantic, `eventsourcing.domain` and
cryptography."""
