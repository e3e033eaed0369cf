"""`record`: reports in, from files or stdin, committed in batches that each say so."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NoReturn

import click

from deployledger import StoreURL
from deployledger.cli import output, render
from deployledger.cli.app import EXIT_INVALID, EXIT_OK, Settings, cli, pass_settings
from deployledger.cli.importing import (
    Entry,
    Limits,
    Progress,
    Rejected,
    Tally,
    batches,
    checked,
    commit,
    read_all,
    say,
    write_all,
)
from deployledger.cli.signals import Signals, Stopped
from deployledger.cli.sources import Source

if TYPE_CHECKING:  # the store is imported once the first batch is ready to commit
    from deployledger import Ledger, Receipt

DEFAULT_BATCH_SIZE = 10_000
TERMINAL_HINT = "reading reports from the terminal; end with Ctrl-D (or give a FILE)"


class Receipts:
    """The receipts of each committed batch, printed whole before the next batch is read,
    in the `-o` format: a line each (`recorded t/rt attempt 3 Error` for an outcome,
    `recorded t/rt request Pending` for another kind, with
    `(message cut: N bytes)` when the message was stored cut), or data (json, jsonl, csv).
    `close` ends the output (a JSON array's `]`), after a refused or interrupted import too.
    The bytes go through `write_all`: a plain buffered write can lose its end to a signal.
    """

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self._data = None if fmt == "table" else output.ReceiptWriter(fmt, sink=write_all)

    def write(self, receipts: Sequence[Receipt], cuts: Sequence[int | None]) -> None:
        if self._data is not None:
            self._data.write(receipts)
            return
        say("\n".join(self._line(r, cut) for r, cut in zip(receipts, cuts, strict=True)))

    def close(self) -> None:
        if self._data is not None:
            self._data.close()

    def _line(self, receipt: Receipt, cut: int | None) -> str:
        text = render.receipt_line(receipt)
        return text if cut is None else f"{text} (message cut: {cut:,} bytes)"


@cli.command(
    epilog=output.examples(
        "deployledger record reports.jsonl",
        "deployledger record --batch-size 1000 -o jsonl backlog.jsonl > receipts.jsonl",
        "deployledger record < report.json",
    )
)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@output.option(json_means="jsonl")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    metavar="N",
    help=f"Commit every N reports [default: {DEFAULT_BATCH_SIZE:,}]. Given explicitly, each "
    "batch is validated only when its turn comes: an invalid report stops the import there, "
    "and the batches before it stay stored (the message says up to which line).",
)
@click.option(
    "--atomic",
    is_flag=True,
    help="Store the whole input in one transaction, all or nothing (it is held in memory).",
)
@click.option(
    "--max-message-bytes",
    type=click.IntRange(min=1),
    metavar="BYTES",
    help="Keep status and progress messages up to BYTES of UTF-8 whole; a longer one is "
    "stored with its middle cut out [default: the store URL's max_message_bytes, else 1 MiB].",
)
@click.option(
    "--reject-oversized",
    is_flag=True,
    help="Refuse a report whose status or progress message is over the limit, instead of "
    "cutting it.",
)
@pass_settings
def record(
    settings: Settings,
    files: tuple[str, ...],
    fmt: str,
    batch_size: int | None,
    atomic: bool,
    max_message_bytes: int | None,
    reject_oversized: bool,
) -> None:
    """Record reports from FILES (or stdin): a JSON object, a JSON array, or JSON Lines.

    Each message says what it is with "kind": "request" (a deploy request), "progress",
    "outcome" (the status report) or "undeploy", in any mix; one without "kind" is an
    outcome if it has "success".

    The whole input is validated first: if any report is invalid, nothing is stored. Then
    it is committed in batches, each one transaction, and each batch's receipts are printed
    as soon as it is committed. Interrupted (Ctrl-C, SIGTERM), the import stops between two
    batches and says which lines were stored (exit 130 or 143).
    """
    if atomic and batch_size is not None:
        raise click.UsageError("--atomic and --batch-size cannot be used together")
    names = list(files) or ["-"]
    if "-" in names and sys.stdin.isatty():
        click.echo(TERMINAL_HINT, err=True)
    limit = max_message_bytes or StoreURL.parse(settings.store).max_message_bytes
    signals = Signals()
    signals.install()
    twice = batch_size is None and not atomic  # validated first, then read again to store
    sources = []
    try:
        for name in names:
            label = f"{name}: " if len(names) > 1 else ""
            sources.append(Source(name, label, signals, twice=twice))
        run = _Import(settings, sources, Limits(limit, reject_oversized), signals)
        code = run.run(Receipts(fmt), batch_size, atomic)
    finally:
        for source in sources:
            source.close()
        signals.finish()
    if code != EXIT_OK:
        sys.exit(code)


class _Import:
    def __init__(
        self, settings: Settings, sources: list[Source], limits: Limits, signals: Signals
    ) -> None:
        self.settings, self.sources, self.limits, self.signals = settings, sources, limits, signals
        self.tally = Tally([source.name for source in sources])
        self.ledger: Ledger | None = None
        self.progress = Progress(sys.stderr.isatty())

    def run(self, printer: Receipts, batch_size: int | None, atomic: bool) -> int:
        try:
            try:
                code = self._store(printer, self._plan(batch_size, atomic))
            finally:
                self.progress.stop()
        except Stopped as stop:
            printer.close()
            return self._stopped(stop)
        except Rejected as e:
            printer.close()
            code = self._rejected(e.problems)
        except BaseException:
            with contextlib.suppress(Exception):
                printer.close()
            if self.tally.count:
                say(f"deployledger: {self.tally.summary()}", err=True)
            with contextlib.suppress(Stopped):
                self._close()
            raise
        try:
            self._close()
        except Stopped:  # after the last commit: nothing is left to wait for
            if code == EXIT_OK:
                say("deployledger: interrupted after every report was committed", err=True)
            _exit_now(code)
        return code

    def _plan(self, batch_size: int | None, atomic: bool) -> Iterator[tuple[list[Entry], bool]]:
        """The batches to commit; validating the whole input first unless `batch_size`."""
        if batch_size is not None:
            items = read_all(self.sources, _ignore)
            return batches(checked(items, self.limits, self.sources, self.signals), batch_size)
        sizes = [source.size for source in self.sources]
        self.progress.start("checking", None if None in sizes else sum(s or 0 for s in sizes))
        kept: list[Entry] = []
        problems: list[str] = []
        total = 0
        items = read_all(self.sources, self.progress.advance)
        for found in checked(items, self.limits, self.sources, self.signals):
            if isinstance(found, Entry):
                total += 1
                if atomic:
                    kept.append(found)
            else:
                problems += found
        if problems:
            raise Rejected(problems)
        self.tally.total = total
        if atomic:
            return iter([(kept, True)] if kept else [])
        items = read_all(self.sources, _ignore)
        return batches(checked(items, self.limits, self.sources, self.signals), DEFAULT_BATCH_SIZE)

    def _store(self, printer: Receipts, plan: Iterator[tuple[list[Entry], bool]]) -> int:
        self.progress.start("recording", self.tally.total)
        for batch, last in plan:
            if self.ledger is None:
                from deployledger import Ledger

                self.ledger = Ledger.open(
                    self.settings.store,
                    create=None,
                    read_model_url=self.settings.read_model,
                    max_message_bytes=self.limits.max_message_bytes,
                    reject_oversized=self.limits.reject_oversized,
                )
            self.signals.check()
            commit(self.ledger, batch, self.tally, printer, self.sources)
            if last:
                self.tally.total = self.tally.count  # known now, if it was not before
            self.progress.advance(len(batch))
            self.signals.check()
        printer.close()
        if not self.tally.count:
            click.echo("no reports in input; nothing recorded", err=True)
        return EXIT_OK

    def _stopped(self, stop: Stopped) -> int:
        code = stop.exit_code
        if self.tally.complete:
            say("deployledger: interrupted after every report was committed", err=True)
            code = EXIT_OK
        else:
            say(f"deployledger: interrupted: {self.tally.summary()}", err=True)
        if self.ledger is not None:
            _exit_now(code)  # without waiting for the background snapshots
        return code

    def _rejected(self, problems: list[str]) -> int:
        """One line for one problem (`report 3 (line 3): success: ...; nothing recorded`);
        several are listed a line each, then counted."""
        lines = [render.safe(problem, keep=set()) for problem in problems]
        done = self.tally.summary() if self.tally.count else "nothing recorded"
        if len(lines) == 1:
            lines[0] += f"; {done}"
        elif self.tally.count:
            lines.append(f"{len(lines)} problems in input; {done}")
        else:
            lines.append(f"nothing recorded: {len(lines)} problems in input")
        say("\n".join(lines), err=True)
        return EXIT_INVALID

    def _close(self) -> None:
        """Close the ledger: it waits for background snapshots, unless a signal comes."""
        if self.ledger is not None:
            ledger, self.ledger = self.ledger, None
            with self.signals.at_once():
                ledger.close()


def _ignore(_amount: int) -> None:
    pass


def _exit_now(code: int) -> NoReturn:
    """Exit at once. Every commit is done and said; what is left are snapshots, which are
    an optimisation: one being written is rolled back by the database, like any crash."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
