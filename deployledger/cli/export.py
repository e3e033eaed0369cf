"""`audit --all`: every matching attempt, streamed as CSV or JSON Lines in constant memory.

The CSV has the header and the columns of `audit -o csv` (and its one NUL escape: see
`output`); rows are written a chunk at a time, as the library yields them."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import click

from deployledger import Attempt
from deployledger.cli import output

CHUNK = 2000


def check_options(fmt: str, cursor: str | None) -> None:
    source = click.get_current_context().get_parameter_source("limit")
    if source is not None and source.name == "COMMANDLINE":
        raise click.UsageError("--all and --limit exclude each other: --all gives every row")
    if cursor is not None:
        raise click.UsageError("--all and --cursor exclude each other: --all has no pages")
    if fmt == "json":
        raise click.UsageError("--all streams csv or jsonl: use -o csv or -o jsonl, not json")


def stream(attempts: Iterable[Attempt], fmt: str) -> None:
    """Write `attempts` as `fmt` (csv or jsonl) to stdout, a chunk at a time."""
    it = iter(attempts)
    header = True
    while True:
        chunk = [a.to_audit_json() for a in islice(it, CHUNK)]
        if fmt == "csv" and (chunk or header):
            text = output.to_csv(chunk, output.AUDIT_COLUMNS, header=header)
            header = False
        else:
            text = "".join(output.to_json(row) + "\n" for row in chunk)
        if text:
            output.write_bytes(text.encode())
        if len(chunk) < CHUNK:
            return
