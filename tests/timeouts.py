"""pytest-timeout's thread method, with every thread's stack shown under pytest-xdist too.

Every test has a time limit (`timeout` in pyproject.toml), so that a hang fails in
minutes with a stack. The thread method also fires while the test waits inside a C call
(a psycopg wait, a lock), and it ends the process: under xdist, the worker, which xdist
reports as crashed and replaces. The plugin writes the stacks to pytest's terminal writer,
which an xdist worker discards, so `make test` (-n 2) would show only "worker crashed".
In a worker, these hooks write the same dump to stderr, which xdist passes through;
elsewhere the plugin's own timer runs. tests/conftest.py loads them;
tests/unit/test_timeouts.py shows a hang failing with its stack.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Any

import pytest
from _pytest._io import TerminalWriter


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    if settings.method != "thread" or not hasattr(item.config, "workerinput"):
        return None
    timer = threading.Timer(settings.timeout, _dump_stacks_and_exit, (item, settings.timeout))
    timer.name = f"timeout {item.nodeid}"
    timer.daemon = True

    def cancel() -> None:
        timer.cancel()
        timer.join()

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  # pytest-timeout calls it
    timer.start()
    return True


def _dump_stacks_and_exit(item: pytest.Item, timeout: float) -> None:
    capman = item.config.pluginmanager.getplugin("capturemanager")
    out = err = ""
    if capman is not None:
        capman.suspend_global_capture(item)  # gives stderr back, with what it captured
        out, err = capman.read_global_capture()
    tw = TerminalWriter(sys.__stderr__)
    try:
        tw.sep("+", f"Timeout: {item.nodeid} ran past {timeout:g}s")
        for title, text in (("Captured stdout", out), ("Captured stderr", err)):
            if text:
                tw.sep("~", title)
                tw.write(text)
        names = {t.ident: t.name for t in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            if ident != threading.get_ident():
                tw.sep("~", f"Stack of {names.get(ident, '<unknown>')} ({ident})")
                tw.write("".join(traceback.format_stack(frame)))
        tw.sep("+", "Timeout")
        tw.flush()
    finally:
        os._exit(1)
