"""The inputs of `record`: files or stdin (`-`), each readable twice.

Validating the whole input before storing any of it takes two passes. A seekable input is
read again from where it started; any other (stdin from a pipe or a terminal, a FIFO) is
copied to a temporary file while it is read the first time, so that the second pass reads
exactly the bytes that were validated.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from typing import IO

import click

from deployledger.cli.signals import Signals
from deployledger.cli.textstream import Read


class Source:
    """One input, a file or stdin (`-`), that can be read twice: seekable inputs are read
    again from where they started, others (stdin, pipes) are copied to a temporary file
    while they are read the first time."""

    def __init__(self, name: str, label: str, signals: Signals, *, twice: bool) -> None:
        self.name, self.label = name, label
        self._shown = "stdin" if name == "-" else name
        self._signals = signals
        self._twice = twice
        self._handle: IO[bytes]
        if name == "-":
            self._handle = sys.stdin.buffer
        else:
            try:
                self._handle = open(name, "rb")  # noqa: SIM115 - closed by close()
            except OSError as e:
                raise click.BadParameter(f"cannot read {name}: {e.strerror}") from None
        self._start: int | None = None
        with contextlib.suppress(OSError):
            if self._handle.seekable():
                self._start = self._handle.tell()
        self.size = _size(self._handle) if self._start is not None else None
        self._spool: IO[bytes] | None = None
        self._reads = 0

    def reader(self, advance: Callable[[int], None]) -> Read:
        """A function reading the next chunk (the input again, from its start, on the second
        call); a signal while it waits for input stops the import at once."""
        self._reads += 1
        handle = self._handle
        if self._reads > 1:
            if self._spool is not None:
                handle = self._spool
                handle.seek(0)
            elif self._start is not None:
                handle.seek(self._start)
        elif self._start is None and self._twice:
            self._spool = tempfile.TemporaryFile(prefix="deployledger-")  # noqa: SIM115
        spool = self._spool if self._reads == 1 else None
        read_some: Callable[[int], bytes] = getattr(handle, "read1", handle.read)

        def read(size: int) -> bytes:
            try:
                with self._signals.at_once():
                    data = read_some(size)
            except OSError as e:
                raise click.ClickException(f"cannot read {self._shown}: {e.strerror}") from None
            if spool is not None:
                try:
                    spool.write(data)
                except OSError as e:
                    hint = "or give --batch-size N, to read it once"
                    why = f"cannot keep a copy of {self._shown} to store it after checking it"
                    raise click.ClickException(f"{why}: {e.strerror} ({hint})") from None
            advance(len(data))
            return data

        return read

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
        if self.name != "-":
            self._handle.close()


def _size(handle: IO[bytes]) -> int | None:
    try:
        return os.fstat(handle.fileno()).st_size or None
    except (OSError, ValueError):
        return None
