"""Every error deployledger raises, under one base.

```
DeployLedgerError
 ├── InvalidReport        a report breaks the contract; nothing was stored (fix the input)
 │    └── IdempotencyConflict  a messageId already recorded, with other content (fix the sender)
 ├── InvalidStoreURL      the store URL or a setting cannot be used (fix the configuration)
 ├── InvalidQuery         a query filter, limit or cursor cannot be used (fix the query)
 ├── SchemaMissing        the store has no deployledger schema yet (run `deployledger migrate`)
 ├── StoreMisconfigured   the store cannot be used as configured: a missing database, role or
 │                        directory, a refused password or permission, a read-only file (fix it)
 ├── StoreUnavailable     a retry can succeed: the server is unreachable, busy or shutting down,
 │    │                   a lock wait timed out, a serialization failure (retry later)
 │    └── WriteConflict   concurrent writers kept winning past the retry bound (retry later)
 ├── WorkloadNotFound     no report was ever recorded for that workload
 ├── TokenNotFound        no API token has that id (token revoke)
 ├── ProjectionBehind     the read model did not reach a position in time (retry, or run a follower)
 ├── RebuildFailed        a rebuilt read model disagreed with the events; the live one is untouched
 └── LogError             the tamper-evident log: input that cannot be read or trusted
      ├── InvalidCheckpoint  a checkpoint note that does not parse (which line, what is wrong)
      ├── InvalidKey         a signing or verifier key that cannot be read
      ├── InvalidBundle      an audit bundle that does not verify (every problem found)
      └── LogCorrupt         stored log data cannot be read (a frontier or a leaf)
```
The messages never contain the password of a store URL.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DeployLedgerError",
    "IdempotencyConflict",
    "InvalidBundle",
    "InvalidCheckpoint",
    "InvalidKey",
    "InvalidQuery",
    "InvalidReport",
    "InvalidStoreURL",
    "LogCorrupt",
    "LogError",
    "Problem",
    "ProjectionBehind",
    "RebuildFailed",
    "SchemaMissing",
    "StoreMisconfigured",
    "StoreUnavailable",
    "WorkloadNotFound",
    "WriteConflict",
]


class DeployLedgerError(Exception):
    """Base of every error deployledger raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one report: the contract field and the reason."""

    field: str
    reason: str
    report: int | None = None  # 1-based position in a batch, when there is one
    line: int | None = None  # 1-based line in the input text, when known

    def __str__(self) -> str:
        where = ""
        if self.report is not None:
            where = f"report {self.report}"
            if self.line is not None:
                where += f" (line {self.line})"
            where += ": "
        return f"{where}{self.field}: {self.reason}"


class InvalidReport(DeployLedgerError, ValueError):
    """One or more reports break the contract. Nothing was stored.

    `problems` lists every problem found, not only the first one.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = "invalid report" if count == 1 else f"{count} problems in reports"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class IdempotencyConflict(InvalidReport):
    """A report reuses a `messageId` already recorded for its workload, with different
    content. Nothing was stored; each problem names the earlier attempt."""


class InvalidStoreURL(DeployLedgerError, ValueError):
    """The store URL or one of its settings cannot be used."""


class InvalidQuery(DeployLedgerError, ValueError):
    """A query filter, limit or pagination cursor cannot be used. `parameter` names the
    argument at fault (`tenant_id`, `limit`, `cursor`, ...), when it is one argument."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class SchemaMissing(DeployLedgerError):
    """The store exists but holds no deployledger schema: run `deployledger migrate`."""


class StoreMisconfigured(DeployLedgerError):
    """The store cannot be used as configured, and retrying will not change that: its
    database, role or directory does not exist, the password or a permission is refused,
    or the file is read-only. The message names the cause; nothing was stored.
    """


class StoreUnavailable(DeployLedgerError):
    """A condition a retry can fix: the server cannot be reached or is shutting down, it has
    too many connections, a lock wait exceeded its timeout, or a transaction lost a
    serialization conflict or a deadlock.

    Retryable: send the same messages again, with their `messageId`s. Usually nothing was
    stored; if the connection was lost just as a commit landed, the retry answers them as
    duplicates.
    """


class WriteConflict(StoreUnavailable):
    """Concurrent writers to one workload won every retry. Retryable."""


class WorkloadNotFound(DeployLedgerError, LookupError):
    """No report has been recorded for this workload."""


class ProjectionBehind(DeployLedgerError):
    """The read model did not reach the requested position in time."""


class RebuildFailed(DeployLedgerError):
    """The rebuilt read model did not match the events; the live one was left untouched."""


class TokenNotFound(DeployLedgerError):
    """No API token has this id."""


class LogError(DeployLedgerError):
    """The tamper-evident log: bad input (a checkpoint, key or bundle that cannot be read)."""


class InvalidCheckpoint(LogError):
    """A checkpoint note does not parse; the message says which line and what is wrong."""


class InvalidKey(LogError):
    """A signing or verifier key cannot be read (neither a note key line nor Ed25519 PEM)."""


class InvalidBundle(LogError):
    """An audit bundle does not verify; the message lists every problem found."""


class LogCorrupt(LogError):
    """Stored log data cannot be read: a frontier of the wrong length, a garbled leaf."""
