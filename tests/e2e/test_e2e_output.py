"""One output convention, exact exports, headlines and `--tz`, through the installed CLI.

Data formats (json, jsonl, csv) are exact on a pipe and on a terminal alike: the CLI runs
with stdout on a pipe, and on a pseudo-terminal in raw mode (so that the terminal passes
the bytes on unchanged), on SQLite and PostgreSQL. Tables stay terminal-safe.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import subprocess
import sys
import threading
import tty
from datetime import datetime
from typing import Any

import lifecycle_keys
import pytest
from support import (
    EXAMPLE_RT_ID,
    EXAMPLE_TENANT,
    TENANT,
    Cli,
    Result,
    cli_args,
    cli_env,
    report,
    sqlite_only,
)

from deployledger import Ledger

# Every C0 control, DEL and every C1 control; ANSI sequences (CSI, OSC), quotes, commas,
# CRLF, NUL, emoji, a bidi override, and backslashes that look like the CSV escape.
EVERYTHING = (
    "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)]))
    + '\x1b[31mRED\x1b[0m \x1b]0;title\x07 "quoted", comma;\r\nCRLF\x00NUL 🚀 é部 \u202e'
    + " \\0 \\\\ \r\n"
)
LOOKS_ESCAPED = 'no NUL here: \\0 and \\\\ and "\\x00", kept as they are'
RT_ID = "exact-0001"
CSV_FLAG = "statusMessageEscaped"


def unescape(text: str) -> str:
    """The README's recipe for a CSV row whose statusMessageEscaped is true."""
    return re.sub(r"\\(.)", lambda m: "\x00" if m[1] == "0" else m[1], text, flags=re.DOTALL)


def csv_messages(text: str) -> list[str]:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    return [
        unescape(row["statusMessage"]) if row[CSV_FLAG] == "true" else row["statusMessage"]
        for row in rows
    ]


def on_terminal(*args: str, store: str) -> Result:
    """Run the CLI with stdout on a pseudo-terminal; return what it wrote there, byte for byte."""
    master, slave = pty.openpty()
    tty.setraw(slave)  # no output processing: "\n" is not turned into "\r\n"
    argv = cli_args(*args, store=store)
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE, env=cli_env()
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(master, 1 << 16)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    code = proc.wait(timeout=60)
    result = Result(argv, code, b"".join(chunks).decode("utf-8"), err.decode("utf-8"))
    assert code == 0, result
    assert "Traceback" not in result.err
    return result


def in_threads(*calls: Any) -> list[Result]:
    """Run each `(function, args, kwargs)` in a thread of its own; their results in order."""
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        function, args, kwargs = calls[i]
        results[i] = function(*args, **kwargs)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(r is not None for r in results), "a CLI run failed (see above)"
    return results


def test_the_terminal_helper_gives_the_child_a_terminal() -> None:
    master, slave = pty.openpty()
    tty.setraw(slave)
    code = "import sys; sys.stdout.write(str(sys.stdout.isatty()) + '\\n')"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=slave)
    os.close(slave)
    out = b""
    try:
        while chunk := os.read(master, 1024):
            out += chunk
    except OSError:
        pass
    os.close(master)
    assert proc.wait(timeout=30) == 0
    assert out == b"True\n"


@pytest.fixture
def exact(store_url: str) -> str:
    """A store holding two failed attempts of TENANT/RT_ID: LOOKS_ESCAPED, then EVERYTHING."""
    with Ledger.open(store_url, create=True) as ledger:
        ledger.record(report(RT_ID, success=False, message=LOOKS_ESCAPED))
        ledger.record(report(RT_ID, success=False, message=EVERYTHING))
    return store_url


VIEWS: list[tuple[str, ...]] = [
    ("audit", "-o", "json"),
    ("audit", "-o", "jsonl"),
    ("audit", "-o", "csv"),
    ("audit", "--format", "csv"),
    ("history", TENANT, RT_ID, "-o", "json"),
    ("history", TENANT, RT_ID, "--json"),
    ("show", TENANT, RT_ID, "-o", "json"),
    ("status", "-o", "json"),
]


def messages(view: tuple[str, ...], out: str) -> list[str]:
    """The status messages in one command's output, newest first."""
    if "csv" in view:
        return csv_messages(out)
    if "jsonl" in view:
        return [json.loads(line)["statusMessage"] for line in out.split("\n") if line]
    data = json.loads(out)
    return [row["statusMessage"] for row in (data if isinstance(data, list) else [data])]


@pytest.mark.slow
def test_every_data_format_is_exact_on_a_pipe_and_on_a_terminal(exact: str, cli: Cli) -> None:
    piped = [cli.spawn(*view, store=exact) for view in VIEWS]
    on_tty = in_threads(*((on_terminal, view, {"store": exact}) for view in VIEWS))

    for view, running, terminal in zip(VIEWS, piped, on_tty, strict=True):
        pipe = running.result()
        assert pipe.out == terminal.out, view  # a terminal changes nothing
        expected = [EVERYTHING] if view[0] in ("show", "status") else [EVERYTHING, LOOKS_ESCAPED]
        assert messages(view, pipe.out) == expected, view
        # Nothing a terminal acts on is written raw by JSON; CSV is data, written exactly.
        if "csv" not in view:
            assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", pipe.out), view
        else:
            assert "\x1b[31mRED" in pipe.out
            assert "\x00" not in pipe.out


def test_json_and_csv_of_history_show_and_status_agree_with_each_other(
    exact: str, cli: Cli
) -> None:
    views = [
        ("history", TENANT, RT_ID, "-o", "jsonl"),
        ("history", TENANT, RT_ID, "-o", "csv"),
        ("show", TENANT, RT_ID, "-o", "jsonl"),
        ("show", TENANT, RT_ID, "-o", "csv"),
        ("status", "-o", "jsonl"),
        ("status", "-o", "csv"),
        ("history", TENANT, RT_ID, "-o", "json"),
        ("status", "-o", "json"),
        ("history", TENANT, RT_ID, "--attempts", "-o", "csv"),
    ]
    outs = [run.result().out for run in [cli.spawn(*view, store=exact) for view in views]]
    for view, out in zip(views, outs, strict=True):
        expected = [EVERYTHING] if view[0] in ("show", "status") else [EVERYTHING, LOOKS_ESCAPED]
        assert messages(view, out) == expected, view

    history = json.loads(outs[6])
    # The timeline's CSV: the outcome's keys in order, then those of the other kinds (empty
    # in an outcome's row), then a flag per message column; --attempts, the outcome's alone.
    sheet = list(csv.DictReader(io.StringIO(outs[1], newline="")))
    assert list(sheet[0]) == [
        *history[0],
        *lifecycle_keys.TIMELINE_EXTRA_COLUMNS,
        CSV_FLAG,
        "messageEscaped",
    ]
    assert {row[k] for row in sheet for k in lifecycle_keys.TIMELINE_EXTRA_COLUMNS} == {""}
    assert [row["messageEscaped"] for row in sheet] == ["false", "false"]
    attempts = list(csv.DictReader(io.StringIO(outs[8], newline="")))
    assert list(attempts[0]) == [*history[0], CSV_FLAG]
    assert [[*row.values()] for row in attempts] == [
        [*[*row.values()][: len(history[0])], row[CSV_FLAG]] for row in sheet
    ]
    assert [row[CSV_FLAG] for row in sheet] == ["true", "false"]
    assert [row["attempt"] for row in sheet] == [str(item["attempt"]) for item in history]
    assert [row["recordedAt"] for row in sheet] == [item["recordedAt"] for item in history]
    assert [row["reportedAt"] for row in sheet] == ["", ""]
    assert [row["success"] for row in sheet] == ["false", "false"]
    (state,) = json.loads(outs[7])
    (row,) = csv.DictReader(io.StringIO(outs[5], newline=""))
    assert list(row) == [*state, CSV_FLAG]
    del row["statusMessage"], state["statusMessage"]
    assert row == {k: "" if v is None else str(v) for k, v in state.items()} | {CSV_FLAG: "true"}


def test_tables_escape_what_data_keeps(exact: str, cli: Cli) -> None:
    views = [
        ("history", TENANT, RT_ID),
        ("audit",),
        ("status",),
        ("show", TENANT, RT_ID),
        ("history", "--full", TENANT, RT_ID),
    ]
    outs = [run.result().out for run in [cli.spawn(*v, store=exact) for v in views]]
    headline = "".join(f"\\x{code:02x}" for code in range(9)) + " …"
    for view, out in zip(views, outs, strict=True):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", out), view
        if view[0] != "show" and "--full" not in view:  # its first line, whitespace stripped
            assert headline in out, view
    for out in outs[3:]:  # whole messages
        assert "\\x1b[31mRED\\x1b[0m \\x1b]0;title\\x07" in out
        assert '"quoted", comma;\\x0d\n' in out
        assert "🚀 é部 \\u202e \\0 \\\\" in out


class TestOutputOptions:
    @sqlite_only()
    def test_o_json_and_json_are_the_same_and_disagreeing_formats_are_refused(
        self, recorded: str, cli: Cli
    ) -> None:
        key = (EXAMPLE_TENANT, EXAMPLE_RT_ID)
        running = [
            cli.spawn("show", *key, "-o", "json", store=recorded),
            cli.spawn("show", *key, "--json", store=recorded),
            cli.spawn("audit", "--limit", "3", "--format", "jsonl", store=recorded),
            cli.spawn("audit", "--limit", "3", "--output", "jsonl", store=recorded),
            cli.spawn("status", "--json", "-o", "csv", store=recorded),
        ]
        assert running[0].result().json() == running[1].result().json()
        assert running[2].result().out == running[3].result().out
        refused = running[4].result(expect=2)
        assert refused.out == ""
        assert "choose one output format" in refused.err

    @sqlite_only()
    def test_tz_sets_the_zone_of_table_times_and_json_stays_utc(
        self, recorded: str, cli: Cli
    ) -> None:
        key = (EXAMPLE_TENANT, EXAMPLE_RT_ID)
        running = [
            cli.spawn("history", *key, "--limit", "1", "-o", "json", store=recorded),
            cli.spawn("history", *key, "--limit", "1", "--tz", "Asia/Kolkata", store=recorded),
            cli.spawn("history", *key, "--limit", "1", store=recorded, env={"TZ": "Asia/Tokyo"}),
            cli.spawn(
                "history",
                *key,
                "--limit",
                "1",
                "-o",
                "json",
                store=recorded,
                env={"TZ": "Asia/Tokyo"},
            ),
            cli.spawn("history", *key, "--limit", "1", "--tz", "nowhere", store=recorded),
        ]
        item = running[0].result().json()[0]
        occurred = datetime.fromisoformat(item["reportedAt"] or item["recordedAt"])
        kolkata = running[1].result().lines()[1]
        tokyo = running[2].result().lines()[1]
        offset = occurred.utcoffset()
        assert offset is not None
        assert offset.total_seconds() == 0
        assert re.search(r"  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30  ", kolkata), kolkata
        assert re.search(r"  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00  ", tokyo), tokyo
        shown = datetime.fromisoformat(kolkata.split()[1])
        assert shown == occurred.replace(microsecond=0)
        assert running[3].result().json()[0] == item
        bad = running[4].result(expect=2)
        assert "'nowhere' is not a time zone" in bad.err


@sqlite_only()
def test_an_empty_history_page_says_no_attempts_match(recorded: str, cli: Cli) -> None:
    key = (EXAMPLE_TENANT, EXAMPLE_RT_ID)
    running = [
        cli.spawn("history", *key, "--before", "1", store=recorded),
        cli.spawn("history", *key, "--before", "1", "-o", "json", store=recorded),
        cli.spawn("history", *key, "--before", "1", "-o", "csv", store=recorded),
        cli.spawn("audit", "--tenant", "nobody", store=recorded),
    ]
    table = running[0].result()
    assert (table.out, table.err) == ("", "no attempts match\n")
    data = running[1].result()
    assert (data.out, data.err) == ("[]\n", "")
    sheet = running[2].result()
    assert sheet.out.startswith("kind,attempt,recordedAt,")  # --before implies --attempts
    assert sheet.out.count("\r\n") == 1
    assert running[3].result().err == "no attempts match\n"


def test_tables_show_headlines_and_status_the_reason_of_each_error(
    recorded: str, cli: Cli, examples: list[dict[str, Any]]
) -> None:
    running = [
        cli.spawn("status", "--state", "error", store=recorded),
        cli.spawn("history", EXAMPLE_TENANT, EXAMPLE_RT_ID, "--limit", "4", store=recorded),
        cli.spawn("audit", "--failed", "--limit", "100", store=recorded),
    ]
    status = running[0].result().lines()
    assert status[0].split()[-1] == "REASON"
    assert len(status) == 2
    assert status[1].endswith(
        "Z  Error: UPGRADE FAILED: pre-upgrade hooks failed: 1 error occurred: "
        "job failed: BackoffLimitExceeded …"
    ), status[1]
    assert status[1].index("Error: UPGRADE") == status[0].index("REASON")

    history = running[1].result().lines()
    column = history[0].index("MESSAGE")
    assert [line[column:] for line in history[1:]] == [
        "Error: UPGRADE FAILED: pre-upgrade hooks failed: 1 error occurred: job failed: "
        "BackoffLimitExceeded …",
        'Release "checkout-api" has been upgraded. Happy Helming! …',
        'Error: UPGRADE FAILED: cannot patch "checkout-api" with kind Deployment: '
        'Deployment.apps "checkout-…',
        "Error: UPGRADE FAILED: timed out waiting for the condition …",
    ]
    audit = running[2].result().out
    assert "[debug]" not in audit
    failures = [r for r in examples if not r["success"]]
    # STATE, then CATEGORY, then the headline
    assert len(re.findall(r"  Error  [a-z-]+ +Error: ", audit)) == len(failures)
