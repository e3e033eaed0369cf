"""`Ledger.log`: the tamper-evident log over every event (checkpoints, verification,
inclusion proofs, offline audit bundles). See `deployledger.service.logbook`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime

from deployledger.domain.arguments import check_limit, check_period, check_texts, check_time
from deployledger.domain.tlog.checkpoints import (
    SignedCheckpoint,
    SigningKey,
    VerifierKey,
    parse_checkpoint,
)
from deployledger.domain.tlog.report import InclusionProof, VerifyReport
from deployledger.errors import InvalidCheckpoint
from deployledger.service import logbook
from deployledger.service.ports import ReadModelPort


class Log:
    """The tamper-evident log kept beside a ledger's read model (`ledger.log`)."""

    def __init__(self, read_model: ReadModelPort) -> None:
        self._read_model = read_model

    def checkpoint(
        self, *, key: SigningKey | None = None, origin: str = logbook.DEFAULT_ORIGIN
    ) -> SignedCheckpoint:
        """Bring the log up to date and store a checkpoint of it (origin, tree size, root
        hash, time), signed with `key` when given. Publish `.text()` somewhere the
        database's owner cannot rewrite. Raises `InvalidCheckpoint` for a bad origin."""
        self._read_model.catch_up()
        return logbook.make_checkpoint(
            self._read_model.log, key=key, origin=origin, now=datetime.now(UTC)
        )

    def checkpoints(self) -> list[SignedCheckpoint]:
        """Every stored checkpoint, oldest first (unreadable ones are left to `verify`)."""
        found = []
        for row in self._read_model.log.checkpoints():
            with contextlib.suppress(InvalidCheckpoint):
                found.append(parse_checkpoint(row.note))
        return found

    def verify(
        self,
        checkpoints: Iterable[str | SignedCheckpoint] = (),
        *,
        keys: Iterable[VerifierKey] = (),
    ) -> VerifyReport:
        """Recompute the log from every event and check it: the log's own tables, every
        stored checkpoint and each of `checkpoints` (published ones, as note text or
        parsed), their signatures by `keys`. `report.problems` names each change and the
        position it starts at; `report.intact` is true when there is none. Raises
        `InvalidCheckpoint` for a checkpoint text that cannot be read."""
        given = [
            (f"checkpoint {i + 1}", c if isinstance(c, SignedCheckpoint) else parse_checkpoint(c))
            for i, c in enumerate(checkpoints)
        ]
        self._read_model.catch_up()
        return logbook.verify(self._read_model.log, given, list(keys))

    def prove(
        self,
        tenant_id: str,
        workload_rt_id: str,
        attempt: int,
        *,
        checkpoint: str | SignedCheckpoint | None = None,
    ) -> InclusionProof:
        """The inclusion proof of attempt number `attempt` of the workload: its event's
        leaf, leaf index and audit path, against `checkpoint` (default: the latest stored
        one). Raises `InvalidQuery` for an unknown attempt, `LogError` when there is no
        checkpoint, or the attempt is newer than it, or the log does not match it."""
        check_texts(tenant_id=tenant_id, workload_rt_id=workload_rt_id)
        check_limit(attempt, name="attempt")
        self._read_model.catch_up()
        return logbook.prove(
            self._read_model.log, tenant_id, workload_rt_id, attempt, _signed(checkpoint)
        )

    def export_bundle(
        self,
        tenant_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        checkpoint: str | SignedCheckpoint | None = None,
    ) -> tuple[str, int, int]:
        """An offline audit bundle (JSON text): the tenant's attempts recorded in
        [since, until) in canonical form, each with its inclusion proof, and the
        checkpoint (default: the latest stored one) they are proven against. Returns
        (bundle, attempts in it, attempts left out as newer than the checkpoint).
        Check it with `verify_bundle`, with no database."""
        check_texts(tenant_id=tenant_id)
        start, end = check_time(since, "since", ago=False), check_time(until, "until", ago=False)
        check_period(start, end)
        self._read_model.catch_up()
        return logbook.export_bundle(
            self._read_model.log, tenant_id, start, end, _signed(checkpoint)
        )


def _signed(checkpoint: str | SignedCheckpoint | None) -> SignedCheckpoint | None:
    if checkpoint is None or isinstance(checkpoint, SignedCheckpoint):
        return checkpoint
    return parse_checkpoint(checkpoint)
