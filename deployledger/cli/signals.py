"""SIGINT and SIGTERM during an import: never lost, and never acted on inside a transaction.

A handler that raised wherever the signal landed could interrupt a commit half-way through
the driver's call, and then nobody could say whether the batch was stored. So a signal is
only noted, and the import acts on it at its next safe point (`check()`, between
transactions); only where the process waits on something that stores nothing (input, or
the background snapshots once every report is committed) does it act at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Stopped(Exception):
    """A signal asked the import to stop; it stopped at a safe point."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # what a shell reports for a process killed by it


class Signals:
    """The handlers of SIGINT and SIGTERM for one import (install once, in the main thread)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._at_once = False
        self._finished = False
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        """Handle both signals from now on (only the main thread can; elsewhere, as when
        the CLI runs inside another program's thread, signals are left alone)."""
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self._finished:
            return
        if self.received is None:
            self.received = signum
        if self._at_once:
            self._at_once = False  # raise once: never again while unwinding
            raise Stopped(signum)

    def check(self) -> None:
        """Raise `Stopped` if a signal came since the import started."""
        if self.received is not None:
            raise Stopped(self.received)

    @contextmanager
    def at_once(self) -> Iterator[None]:
        """Within this block a signal raises `Stopped` where it lands (around waits that
        store nothing); one that came before raises on entry."""
        self.check()
        self._at_once = True
        try:
            yield
        finally:
            self._at_once = False

    def finish(self) -> None:
        """The import is over, and no signal may change what it said. Run as the program
        (its standard streams are the process's), both signals are ignored from now on,
        through the interpreter's own shutdown (which would put back the default handlers,
        that kill). Run inside another program (a harness calling `main()`), its handlers
        are given back."""
        self._finished = True
        program = sys.stdin is sys.__stdin__ and sys.stdout is sys.__stdout__
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if program else previous)
        self._previous.clear()
