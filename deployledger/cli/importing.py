"""The import behind `record`: read, validate, commit in batches, and say what was committed.

Messages of any kind (deploy requests, progress, outcome reports, undeploys; called reports
here, as in the output) are streamed: read in chunks (`deployledger.cli.inputs`), validated
one by one (`parse_message`), and committed in batches, each one transaction (all of it, or
none of it). Only a batch is ever held in memory. Unless told otherwise, a first pass
validates the whole input before anything is stored (`deployledger.cli.sources` reads each
input twice).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import click

from deployledger import InvalidReport, Problem
from deployledger.cli import render
from deployledger.cli.inputs import CHUNK, RawReport, json_kind, read_reports
from deployledger.cli.signals import Signals
from deployledger.cli.sources import Source

if TYPE_CHECKING:  # the messages' models (pydantic) are imported when the first is checked
    from deployledger import (
        Ledger,
        Receipt,
        WorkloadDeployed,
        WorkloadDeploymentProgress,
        WorkloadDeploymentStatus,
        WorkloadUndeployed,
    )

# A batch also ends once its messages reach this many characters, whatever its count.
BATCH_CHARACTERS = 32 * 1024 * 1024
_WEIGHT = 256  # the rest of a report, roughly, in characters

Message: TypeAlias = (
    "WorkloadDeployed | WorkloadDeploymentProgress | WorkloadDeploymentStatus | WorkloadUndeployed"
)


@dataclass(frozen=True, slots=True)
class Entry:
    """A valid message (of any kind), where it came from, and what `record_many` is given
    for it."""

    source: int
    number: int
    line: int
    last_line: int
    send: Message | dict[str, Any]
    cut: int | None  # the size in bytes of a status or progress message that is stored cut
    weight: int


@dataclass(frozen=True)
class Limits:
    """The status-message limit the ledger applies (None: the store URL's, else the default)."""

    max_message_bytes: int | None = None
    reject_oversized: bool = False

    def check(self, raw: RawReport, source: int) -> Entry | list[Problem]:
        """The message (a deploy request, progress, outcome or undeploy: `parse_message`
        tells them apart by `kind`) as an `Entry`, or its problems, numbered and located."""
        from deployledger import parse_message

        if not isinstance(raw.value, dict):
            reason = f"a report must be a JSON object, got {json_kind(raw.value)}"
            return [Problem("(report)", reason, raw.number, raw.line)]
        options: dict[str, Any] = {"reject_oversized": self.reject_oversized}
        if self.max_message_bytes is not None:
            options["max_message_bytes"] = self.max_message_bytes
        try:
            message = parse_message(raw.value, **options)
        except InvalidReport as e:
            return [Problem(p.field, p.reason, raw.number, raw.line) for p in e.problems]
        size, key, truncated = _size_of(message)
        cut = _message_bytes(raw.value, key) if truncated else None
        # A cut message goes in as sent: the ledger cuts it again, the same way. (Given the
        # parsed model instead, `record_many` would validate its wire form anew, and the
        # flag saying that the message was cut would be lost.)
        send = raw.value if cut is not None else message
        weight = _WEIGHT + (cut if cut is not None else size)
        return Entry(source, raw.number, raw.line, raw.last_line, send, cut, weight)


def _size_of(message: Message) -> tuple[int, str, bool]:
    """The length of the free text a message carries (what makes it large), the normalised
    name of its key, and whether it was cut. A request's is its `valuesYaml` (a secret: only
    its length is used, to size the batch)."""
    from deployledger import WorkloadDeployed, WorkloadDeploymentProgress, WorkloadDeploymentStatus

    if isinstance(message, WorkloadDeploymentStatus):
        return len(message.status_message or ""), "statusmessage", message.message_truncated
    if isinstance(message, WorkloadDeploymentProgress):
        return len(message.message), "message", message.message_truncated
    if isinstance(message, WorkloadDeployed) and message.values_yaml is not None:
        return len(message.values_yaml.get_secret_value()), "valuesyaml", False
    return 0, "", False


def _message_bytes(value: dict[str, Any], wanted: str) -> int | None:
    """The size of the message as sent, under the key whose normalised name is `wanted`
    (matched as the parser matches it)."""
    for key, message in value.items():
        name = key.replace("_", "").replace("-", "").lower()
        if name == wanted and isinstance(message, str):
            return len(message.encode("utf-8"))
    return None


class Rejected(Exception):
    """Invalid input: the problems of the batch (or of the whole input) that was refused."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems


class Tally:
    """What was committed so far: how many reports, and up to which line of which input."""

    def __init__(self, names: list[str]) -> None:
        self.names = names  # of the inputs, in order
        self.total: int | None = None  # when known: the input was validated first
        self.count = 0
        self.last_line: dict[int, int] = {}

    def add(self, batch: list[Entry]) -> None:
        self.count += len(batch)
        for entry in batch:
            self.last_line[entry.source] = entry.last_line

    @property
    def complete(self) -> bool:
        return self.total is not None and self.count == self.total

    def summary(self) -> str:
        """`committed 120,000 of 200,000 reports (lines 1–120000); nothing after line
        120000 was stored`, or `nothing was stored`."""
        if not self.count:
            return "nothing was stored"
        noun = "report" if self.count == 1 else "reports"
        of = f" of {self.total:,}" if self.total is not None else ""
        spans = []
        for index, last in self.last_line.items():
            where = self._where(index)
            spans.append(f"{where}line 1" if last == 1 else f"{where}lines 1–{last}")
        index, last = list(self.last_line.items())[-1]
        after = f"nothing after {self._where(index)}line {last} was stored"
        return f"committed {self.count:,}{of} {noun} ({', '.join(spans)}); {after}"

    def _where(self, index: int) -> str:
        return "" if len(self.names) == 1 else f"{render.safe(self.names[index], keep=set())} "


class Progress:
    """A progress bar on stderr (by `rich`) when stderr is a terminal; else nothing at all."""

    def __init__(self, enabled: bool) -> None:
        self._bar: Any = None
        self._task: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import Progress as Bar

            # Receipts on the same terminal go through the bar, so that it stays below them.
            self._bar = Bar(
                console=Console(stderr=True),
                transient=True,
                redirect_stdout=sys.stdout.isatty(),
                redirect_stderr=False,
            )

    def start(self, description: str, total: int | None) -> None:
        if self._bar is not None:
            if self._task is None:
                self._bar.start()
            else:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task(description, total=total)

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._bar.advance(self._task, amount)

    def stop(self) -> None:
        if self._task is not None:
            self._bar.stop()
            self._task = None


Located = tuple[int, RawReport | Problem]


def read_all(sources: list[Source], advance: Callable[[int], None]) -> Iterator[Located]:
    """Every value (or problem) of every input, in order, with its input's index."""
    for index, source in enumerate(sources):
        for item in read_reports(source.reader(advance), CHUNK):
            yield index, item


def checked(
    items: Iterable[Located], limits: Limits, sources: list[Source], signals: Signals
) -> Iterator[Entry | list[str]]:
    """Each value validated: an `Entry`, or its problems as lines of output."""
    for index, item in items:
        signals.check()
        found = item if isinstance(item, Problem) else limits.check(item, index)
        if isinstance(found, Entry):
            yield found
        else:
            label = sources[index].label
            yield [label + str(p) for p in (found if isinstance(found, list) else [found])]


def batches(found: Iterable[Entry | list[str]], size: int) -> Iterator[tuple[list[Entry], bool]]:
    """Batches of `size` consecutive reports (fewer once their messages are large), each
    with whether it is the last; `Rejected` for the first batch holding a problem, listing
    all of its problems. A batch is given once the next one has begun, or the input ended."""
    ready: list[Entry] | None = None
    batch: list[Entry] = []
    problems: list[str] = []
    items = weight = 0
    for entry in found:
        if ready is not None:
            yield ready, False
            ready = None
        items += 1
        if isinstance(entry, list):
            problems += entry
        else:
            batch.append(entry)
            weight += entry.weight
        if items >= size or weight >= BATCH_CHARACTERS:
            if problems:
                raise Rejected(problems)
            ready, batch, items, weight = batch, [], 0, 0
    if problems:
        raise Rejected(problems)
    if batch or ready:
        yield batch or ready or [], True


def locate(error: InvalidReport, batch: list[Entry], sources: list[Source]) -> list[str]:
    """The problems `record_many` found in a batch, numbered and located in the input."""
    out = []
    for p in error.problems:
        entry = batch[p.report - 1 if p.report is not None else 0]
        where = Problem(p.field, p.reason, entry.number, entry.line)
        out.append(sources[entry.source].label + str(where))
    return out


class Printer(Protocol):
    """Where the receipts of each committed batch go, printed before the next batch is read
    (`deployledger.cli.record.Receipts`)."""

    def write(self, receipts: Sequence[Receipt], cuts: Sequence[int | None]) -> None: ...

    def close(self) -> None: ...


def commit(
    ledger: Ledger, batch: list[Entry], tally: Tally, printer: Printer, sources: list[Source]
) -> None:
    """Store one batch in one transaction, count it, then print its receipts at once."""
    try:
        receipts = ledger.record_many([entry.send for entry in batch])
    except InvalidReport as e:  # an IdempotencyConflict: nothing of the batch was stored
        raise Rejected(locate(e, batch, sources)) from None
    tally.add(batch)
    cuts = [None if r.duplicate else e.cut for r, e in zip(receipts, batch, strict=True)]
    printer.write(receipts, cuts)


def say(text: str, *, err: bool = False) -> None:
    """Print `text` and a newline, whole (see `write_all`)."""
    stream = sys.stderr if err else sys.stdout
    if not isinstance(stream, io.TextIOWrapper):
        click.echo(text, err=err)
        return
    write_all((text + "\n").encode(stream.encoding, stream.errors or "strict"), err=err)


def write_all(data: bytes, *, err: bool = False) -> None:
    """Write `data` to stdout (or stderr), all of it, even when a signal interrupts the write.

    CPython's buffered writer drops the rest of a write that a signal cut short, when the
    handler returns (as ours do while they defer): a receipt could be lost on a pipe whose
    reader lags. So the bytes go to the file descriptor, written to the end.
    """
    stream = sys.stderr if err else sys.stdout
    try:
        if not isinstance(stream, io.TextIOWrapper):  # the progress bar's proxy, a test's
            raise io.UnsupportedOperation
        fd = stream.fileno()
    except (OSError, ValueError):
        click.echo(data, err=err, nl=False)
        return
    stream.flush()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
