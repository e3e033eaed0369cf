"""`audit --all`: every matching attempt, streamed as CSV or JSON Lines in constant memory.

The CSV has the header and the columns of `audit -o csv` (and its one NUL escape: see
`output`); rows are written a chunk at a time, as the library yields them."""

from __future__ import annotations

from itertools import islice
from typing import TYPE_CHECKING

import click

from deployledger.cli import output

if TYPE_CHECKING:
    from deployledger import AuditFilter, Ledger

CHUNK = 2000


def check_options(fmt: str, cursor: str | None) -> None:
    source = click.get_current_context().get_parameter_source("limit")
    if source is not None and source.name == "COMMANDLINE":
        raise click.UsageError("--all and --limit exclude each other: --all gives every row")
    if cursor is not None:
        raise click.UsageError("--all and --cursor exclude each other: --all has no pages")
    if fmt == "json":
        raise click.UsageError("--all streams csv or jsonl: use -o csv or -o jsonl, not json")


def stream(ledger: Ledger, where: AuditFilter, fmt: str) -> None:
    """Write the attempts matching `where` as `fmt` (csv or jsonl) to stdout, a chunk at a
    time: CSV as the library makes it (`Ledger.audit_csv`), JSON Lines from `audit_iter`."""
    if fmt == "csv":
        for data in ledger.audit_csv(where=where):
            output.write_bytes(data)
        return
    attempts = ledger.audit_iter(where=where)
    while chunk := list(islice(attempts, CHUNK)):
        output.write_bytes(
            "".join(output.to_json(a.to_audit_json()) + "\n" for a in chunk).encode()
        )
