"""`deployledger record` of large inputs: batches, real signals, and what is said about them.

The invariant checked everywhere: the receipts printed, the count and lines the import
says it committed, and the attempts found in the store afterwards are the same reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support import (
    TENANT,
    Cli,
    cli_args,
    cli_env,
    eventually,
    is_sqlite,
    report,
    reports,
    sqlite_path,
)

from deployledger import Ledger

WORKLOADS = 20
SIGNALS = [
    pytest.param(signal.SIGINT, 130, id="SIGINT"),
    pytest.param(signal.SIGTERM, 143, id="SIGTERM"),
]
COMMITTED = re.compile(
    r"deployledger: interrupted: committed ([\d,]+)( of ([\d,]+))? reports? "
    r"\(lines 1–(\d+)\); nothing after line (\d+) was stored"
)


def backlog(count: int, *, workloads: int = WORKLOADS) -> list[dict[str, Any]]:
    """`count` reports over `workloads` workloads, round robin, each with a messageId."""
    return reports(
        count,
        rtid=lambda n, _: f"rt-{n % workloads:02d}",
        success=lambda n, _: n % 3 != 0,
        messageId=lambda n, _: f"m-{n}",
    )


def write_jsonl(path: Path, sent: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in sent), encoding="utf-8")
    return path


def stored(url: str, sent: list[dict[str, Any]]) -> int:
    """How many attempts the store holds for the workloads of `sent`."""
    keys = {(r["tenantId"], r["workloadRtId"]) for r in sent}
    if is_sqlite(url) and not sqlite_path(url).exists():
        return 0
    with Ledger.open(url) as ledger:
        states = [ledger.current(*key) for key in keys]
    return sum(state.attempts for state in states if state is not None)


class Streaming:
    """`deployledger record ARGS...`, its output collected as it comes, by two threads."""

    def __init__(self, *args: Any, store: str, stdin: bytes | None = None) -> None:
        self.proc = subprocess.Popen(
            cli_args("record", *args, store=store),
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(),
        )
        self.lines: list[str] = []
        self.err = b""
        self._threads = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        if stdin is not None:
            self._threads.append(threading.Thread(target=self._write, args=(stdin,), daemon=True))
        for thread in self._threads:
            thread.start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.decode("utf-8").rstrip("\n"))

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.err = self.proc.stderr.read()

    def _write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write(data)
            self.proc.stdin.close()

    def wait_for(self, receipts: int) -> None:
        eventually(lambda: len(self.lines) >= receipts, 120, f"{receipts} receipts")

    def finish(self, expect: int, timeout: float = 120) -> str:
        """Wait for the end; check the exit code and that stderr shows no traceback. A
        process still running after `timeout` is killed (and its pipes closed) before the
        test fails, so that nothing of it is left to a later test."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
            for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if pipe is not None:
                    pipe.close()
            raise
        for thread in self._threads:
            thread.join(30)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        err = self.err.decode("utf-8")
        assert "Traceback" not in err, err
        assert code == expect, f"exit {code}\n{err}"
        return err


def committed(err: str) -> tuple[int, int | None]:
    """(count, total) from the `interrupted: committed ...` line, checked for coherence."""
    found = COMMITTED.search(err)
    assert found is not None, err
    count = int(found[1].replace(",", ""))
    assert int(found[4]) == int(found[5]) == count  # JSON Lines: report N is on line N
    return count, int(found[3].replace(",", "")) if found[3] else None


@contextlib.contextmanager
def writes_blocked(url: str, table: str) -> Iterator[None]:
    """Hold a lock that makes every write to `table` (PostgreSQL) or to the store (SQLite)
    wait, while reads go on; released on exit."""
    if is_sqlite(url):
        lite = sqlite3.connect(sqlite_path(url), timeout=30, isolation_level=None)
        lite.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            lite.rollback()
            lite.close()
        return
    with psycopg.connect(url) as conn:
        conn.execute(f"LOCK TABLE {table} IN SHARE MODE")
        try:
            yield
        finally:
            conn.rollback()


def waiting_on_a_lock(url: str) -> bool:
    """Whether a session of the PostgreSQL database of `url` waits for a lock."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ).fetchone()
    return bool(row and row[0])


def sleeping_in_sqlite_busy_wait(pid: int) -> bool:
    """Whether the main thread of `pid` sleeps (Linux's /proc/PID/wchan): an import of
    `deployledger record` sleeps only in SQLite's busy handler, which retries a write that
    another connection's lock holds up, in short sleeps until the lock or the timeout."""
    try:
        return "nanosleep" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_signal_while_a_batch_commits_waits_for_the_commit_then_says_what_was_stored(
    store: str, tmp_path: Path, signum: int, code: int
) -> None:
    sent = backlog(6000)
    path = write_jsonl(tmp_path / "backlog.jsonl", sent)
    url = f"{store}{'&' if '?' in store else '?'}lock_timeout=60"

    run = Streaming("--batch-size", "1000", path, store=url)
    run.wait_for(1000)  # batch 1 is committed; batch 2 is being read, then committed
    with writes_blocked(store, "deployledger_events"):
        if is_sqlite(store):
            # Not a fixed pause: on a loaded machine batch 2 can take longer to read, and a
            # signal before its transaction would stop the import at once (exit 130).
            what = "the import to wait for the lock"
            eventually(lambda: sleeping_in_sqlite_busy_wait(run.proc.pid), 60, what)
        else:
            eventually(lambda: waiting_on_a_lock(store), 60, "the import to wait for the lock")
        run.proc.send_signal(signum)
        time.sleep(0.5)  # the import keeps waiting in its transaction
        assert run.proc.poll() is None
    err = run.finish(code)

    count, total = committed(err)
    assert total is None  # validated batch by batch: the total is not known
    assert count == 2000 if not is_sqlite(store) else count in (2000, 3000)
    assert len(run.lines) == count
    assert run.lines[-1].startswith(f"recorded {TENANT}/rt-{(count - 1) % WORKLOADS:02d} attempt ")
    assert stored(store, sent) == count


def test_a_signal_during_a_validated_import_from_stdin_says_committed_n_of_total(
    store: str,
) -> None:
    sent = backlog(25_000)
    data = "".join(json.dumps(r) + "\n" for r in sent).encode()

    run = Streaming(store=store, stdin=data)
    run.wait_for(10_000)
    run.proc.send_signal(signal.SIGINT)
    err = run.finish(130)

    count, total = committed(err)
    assert total == 25_000
    assert count in (10_000, 20_000)
    assert f"committed {count:,} of 25,000 reports (lines 1–{count});" in err
    assert len(run.lines) == count
    assert stored(store, sent) == count


def test_a_signal_after_the_last_commit_exits_0_without_waiting_for_snapshots(
    store: str, tmp_path: Path
) -> None:
    # 20 workloads x 200: the last batch takes every workload past version 200, and so
    # queues a snapshot of each, written in the background; closing waits for them.
    sent = backlog(4000)
    path = write_jsonl(tmp_path / "backlog.jsonl", sent)
    url = f"{store}{'&' if '?' in store else '?'}lock_timeout=60"
    blocked = contextlib.ExitStack()
    if not is_sqlite(store):  # snapshots wait (and reads go on) from the start
        blocked.enter_context(writes_blocked(store, "deployledger_snapshots"))

    with blocked:
        run = Streaming("--batch-size", "2000", path, store=url)
        run.wait_for(2001)  # the last batch is committed
        if is_sqlite(store):  # the snapshots not yet written wait from now on
            blocked.enter_context(writes_blocked(store, ""))
        run.wait_for(4000)
        run.proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        err = run.finish(0, timeout=30)
        assert time.monotonic() - started < 10

    assert len(run.lines) == 4000
    assert "aborted" not in err
    if not is_sqlite(store):  # on SQLite, the process may have finished already
        assert err == "deployledger: interrupted after every report was committed\n"
    assert stored(store, sent) == 4000


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_signal_before_any_commit_stores_nothing(store: str, signum: int, code: int) -> None:
    sent = backlog(20_000)
    data = "".join(json.dumps(r) + "\n" for r in sent).encode()
    proc = subprocess.Popen(
        cli_args("record", store=store),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    assert proc.stdin is not None
    # Well past what a pipe holds: the import is reading (its handlers are installed).
    # stdin stays open: the import waits for the rest of its input.
    for start in range(0, 512 * 1024, 16 * 1024):
        proc.stdin.write(data[start : start + 16 * 1024])
        proc.stdin.flush()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)

    assert proc.returncode == code, err
    assert err.decode() == "deployledger: interrupted: nothing was stored\n"
    assert out == b""
    assert stored(store, sent) == 0


def test_with_an_explicit_batch_size_an_invalid_report_stops_the_import_at_its_batch(
    store: str, cli: Cli, tmp_path: Path
) -> None:
    sent = backlog(9)
    sent[4]["success"] = "yes"  # report 5, in batch 3
    path = write_jsonl(tmp_path / "bad.jsonl", sent)

    result = cli("record", "--batch-size", "2", path, store=store, expect=2)
    first = result.lines()

    assert len(result.lines()) == 4
    assert result.err.splitlines() == [
        "report 5 (line 5): success: must be a JSON boolean (true or false), got a string; "
        "committed 4 reports (lines 1–4); nothing after line 4 was stored",
    ]
    assert stored(store, sent) == 4

    sent[5]["tenantId"] = ""  # and report 6, in the same batch
    del sent[6]["success"]  # report 7, in the batch after it: not read
    result = cli("record", "--batch-size", "2", write_jsonl(path, sent[4:]), store=store, expect=2)
    assert result.err.splitlines() == [
        "report 1 (line 1): success: must be a JSON boolean (true or false), got a string",
        "report 2 (line 2): tenantId: must not be empty or blank",
        "nothing recorded: 2 problems in input",
    ]
    result = cli("record", "--batch-size", "2", write_jsonl(path, sent), store=store, expect=2)
    assert result.err.splitlines() == [
        "report 5 (line 5): success: must be a JSON boolean (true or false), got a string",
        "report 6 (line 6): tenantId: must not be empty or blank",
        "2 problems in input; committed 4 reports (lines 1–4); nothing after line 4 was stored",
    ]
    assert result.lines() == [line.replace("recorded", "duplicate") for line in first]


def test_without_a_batch_size_an_invalid_last_report_of_many_batches_stores_nothing(
    store: str, cli: Cli, tmp_path: Path
) -> None:
    sent = backlog(10_001)
    sent[-1]["workloadRtId"] = " rt-00"
    path = write_jsonl(tmp_path / "bad.jsonl", sent)

    result = cli("record", path, store=store, expect=2)

    assert result.out == ""
    assert result.err.splitlines() == [
        "report 10001 (line 10001): workloadRtId: must not start or end with whitespace, "
        "got ' rt-00'; nothing recorded",
    ]
    assert stored(store, sent) == 0


def test_an_idempotency_conflict_is_invalid_input_and_says_what_was_committed_before(
    store: str, cli: Cli, tmp_path: Path
) -> None:
    first = report("conflict-0001", messageId="m-1", success=True)
    cli("record", store=store, stdin=json.dumps(first))
    sent = [report("conflict-0002"), {**first, "success": False}]

    refused = cli("record", store=store, stdin=json.dumps(sent), expect=2)
    assert refused.out == ""
    assert refused.err.splitlines() == [
        f"report 2 (line 1): messageId: 'm-1' was already recorded as attempt 1 of "
        f"{TENANT}/conflict-0001, with different content; nothing recorded",
    ]

    streamed = write_jsonl(tmp_path / "later.jsonl", [report("conflict-0003"), *sent])
    result = cli("record", "--batch-size", "1", streamed, store=store, expect=2)
    assert len(result.lines()) == 2
    assert result.err.splitlines() == [
        f"report 3 (line 3): messageId: 'm-1' was already recorded as attempt 1 of "
        f"{TENANT}/conflict-0001, with different content; "
        "committed 2 reports (lines 1–2); nothing after line 2 was stored",
    ]
    assert stored(store, [first, report("conflict-0003"), *sent]) == 3


def test_atomic_stores_the_whole_input_in_one_transaction_or_nothing(
    store: str, cli: Cli, tmp_path: Path
) -> None:
    sent = backlog(30)
    path = write_jsonl(
        tmp_path / "all.jsonl", [*sent, {**sent[0], "success": not sent[0]["success"]}]
    )
    refused = cli("record", "--atomic", path, store=store, expect=2)
    assert refused.err.endswith("with different content; nothing recorded\n")
    assert stored(store, sent) == 0

    assert len(cli("record", "--atomic", write_jsonl(path, sent), store=store).lines()) == 30
    assert stored(store, sent) == 30

    both = cli("record", "--atomic", "--batch-size", "5", path, store=store, expect=2)
    assert "--atomic and --batch-size cannot be used together" in both.err


@pytest.mark.parametrize(
    ("flags", "setting", "limit"),
    [
        pytest.param([], "", 1024 * 1024, id="default-limit"),
        pytest.param(["--max-message-bytes", "1000"], "", 1000, id="flag"),
        pytest.param([], "max_message_bytes=1000", 1000, id="store-url-setting"),
    ],
)
def test_an_oversized_message_is_kept_cut_and_its_receipt_says_so(
    store: str, cli: Cli, flags: list[str], setting: str, limit: int
) -> None:
    head, tail = "helm output ", " Error: UPGRADE FAILED"
    message = head + "x" * (limit + 1 - len(head) - len(tail)) + tail
    assert len(message.encode()) == limit + 1
    url = f"{store}{'&' if '?' in store else '?'}{setting}" if setting else store
    sent = report("cut-0001", success=False, message=message, messageId="cut-1")

    result = cli("record", *flags, store=url, stdin=json.dumps(sent))

    assert result.lines() == [
        f"recorded {TENANT}/cut-0001 attempt 1 Error (message cut: {limit + 1:,} bytes)"
    ]
    (receipt,) = cli("record", *flags, "-o", "json", store=url, stdin=json.dumps(sent)).json()
    assert (receipt["duplicate"], receipt["messageTruncated"]) == (True, True)
    (attempt,) = cli("history", "--json", TENANT, "cut-0001", store=store).json()
    assert attempt["messageTruncated"] is True
    kept = attempt["statusMessage"]
    assert len(kept.encode()) <= limit
    assert kept.startswith(head)
    assert kept.endswith(tail)
    assert f"of {limit + 1} (sha256 " in kept

    again = cli("record", *flags, store=url, stdin=json.dumps(sent))
    assert again.lines() == [f"duplicate {TENANT}/cut-0001 attempt 1 Error"]


def test_reject_oversized_refuses_the_report_and_stores_nothing(store: str, cli: Cli) -> None:
    sent = report("cut-0002", success=False, message="é" * 501)
    result = cli(
        "record",
        "--max-message-bytes",
        "1000",
        "--reject-oversized",
        store=store,
        stdin=json.dumps(sent),
        expect=2,
    )
    assert result.err.splitlines() == [
        "report 1 (line 1): statusMessage: is 1002 bytes of UTF-8, over the limit of 1000 "
        "bytes; nothing recorded",
    ]
    assert stored(store, [sent]) == 0


def run_on_terminal(
    args: list[str], *, stdin: bytes | None, store: str
) -> tuple[int, bytes, bytes]:
    """Run with stdin (if `stdin` is given) or stderr on a pseudo-terminal."""
    master, slave = pty.openpty()
    on_terminal = {"stdin": slave} if stdin is not None else {"stderr": slave}
    streams: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    proc = subprocess.Popen(
        cli_args("record", *args, store=store),
        stdout=subprocess.PIPE,
        env=cli_env({"TERM": "xterm", "COLUMNS": "100"}),
        **{**streams, **on_terminal},
    )
    os.close(slave)
    seen = bytearray()

    def drain() -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 4096):
                seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    if stdin is not None:
        os.write(master, stdin + b"\x04")  # Ctrl-D at the start of a line: end of input
    out, err = proc.communicate(timeout=60)
    reader.join(5)
    os.close(master)
    return proc.returncode, out, err if stdin is not None else bytes(seen)


def test_a_terminal_on_stdin_gets_a_hint_and_is_read_to_ctrl_d(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    line = json.dumps(report("tty-0001")).encode() + b"\n"
    code, out, err = run_on_terminal([], stdin=line, store=store)
    assert code == 0, err
    assert err.decode() == ("reading reports from the terminal; end with Ctrl-D (or give a FILE)\n")
    assert out.decode() == f"recorded {TENANT}/tty-0001 attempt 1 Deployed\n"


def test_progress_on_a_terminal_stderr_leaves_the_receipts_on_stdout_exact(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    path = write_jsonl(tmp_path / "backlog.jsonl", backlog(300))
    code, out, terminal = run_on_terminal([str(path)], stdin=None, store=store)
    assert code == 0, terminal
    lines = out.decode().splitlines()
    assert len(lines) == 300
    assert all(line.startswith(f"recorded {TENANT}/rt-") for line in lines)
    assert b"Traceback" not in terminal
    assert b"recording" in terminal  # the progress bar, on the terminal only


def blocked_writing(pid: int) -> bool:
    """Whether the process waits for room in a pipe (Linux: its kernel wait channel)."""
    return "pipe" in Path(f"/proc/{pid}/wchan").read_text()


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs Linux's /proc")
def test_receipts_held_up_by_a_full_pipe_are_printed_whole_when_a_signal_comes(
    tmp_path: Path,
) -> None:
    # A write cut short by a signal loses its rest in CPython's buffered writer; receipts
    # are written to the end even so.
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    path = write_jsonl(tmp_path / "backlog.jsonl", backlog(6000))
    proc = subprocess.Popen(
        cli_args("record", "--batch-size", "3000", path, store=store),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    assert proc.stdout is not None
    eventually(lambda: blocked_writing(proc.pid), 60, "the receipts to fill the pipe")
    head = proc.stdout.read(8192)  # the write goes on, and waits again half-way through
    eventually(lambda: blocked_writing(proc.pid), 60, "the receipts to fill the pipe again")
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    out = head + rest

    assert proc.returncode == 130, err
    count, _ = committed(err.decode())
    assert out.decode().count("\n") == count == 3000
    assert out.decode().endswith(
        f"attempt {3000 // WORKLOADS} {'Deployed' if 2999 % 3 else 'Error'}\n"
    )


# Run `argv` with stdout discarded; print its exit code and peak RSS (KiB on Linux). A
# launcher of its own, because a child's peak counts the size of the process it was forked
# from, and the test process is large.
LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_rss_mb(*args: Any, store: str) -> tuple[int, float, str]:
    """Exit code, peak resident set (MiB) and stderr of `deployledger ARGS...`."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *cli_args(*args, store=store)],
        capture_output=True,
        text=True,
        env=cli_env(),
        check=False,
    )
    code, peak = map(int, done.stdout.split())
    return code, peak / (1024 * 1024 if sys.platform == "darwin" else 1024), done.stderr


# Fifteen batches of 1,000 reports (`--batch-size`): the import holds one batch at a time, so
# its peak stays near that of a single batch whatever the input's length. Holding the whole
# input instead (as `--atomic` does) costs about 2 KB a report: here about 30 MB more than
# streaming it, which GROWTH leaves no room for. `python -m bench writes --only import`
# measures the 200,000 reports (31 MB) in default batches of 10,000.
STREAMED = 15_000
BATCH = 1_000
GROWTH = 15  # MB over recording one report; streaming needs about 5


@pytest.mark.slow
@pytest.mark.timeout(300)  # 15,000 reports
def test_recording_15000_reports_peaks_under_150_mb_holding_one_batch_at_a_time(
    store: str, tmp_path: Path
) -> None:
    sent = backlog(STREAMED, workloads=600)
    path = write_jsonl(tmp_path / "backlog.jsonl", sent)
    assert path.stat().st_size > 2_400_000
    one = write_jsonl(tmp_path / "one.jsonl", [report("rss-0001")])

    code, fixed, err = peak_rss_mb("record", one, store=store)
    assert code == 0, err
    code, peak, err = peak_rss_mb("record", "--batch-size", str(BATCH), path, store=store)
    assert code == 0, err

    assert peak < 150, f"peak {peak:.0f} MB; recording one report: {fixed:.0f} MB"
    assert peak - fixed < GROWTH, f"peak {peak:.0f} MB; recording one report: {fixed:.0f} MB"
    assert stored(store, sent) == STREAMED
