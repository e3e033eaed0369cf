"""One output convention for every command that prints data: `-o table|json|jsonl|csv`.

Tables are for people: terminal-safe (see `render`), times in the display zone (`--tz`).
JSON, JSON Lines and CSV are data: written as UTF-8 bytes straight to stdout, never through
click's ANSI stripping, so they are exact whether stdout is a terminal, a pipe or a file.

- JSON and JSON Lines: `json.dumps(ensure_ascii=False)`, with every character a terminal
  could act on (controls, DEL, C1, format characters such as U+202E, U+2028/U+2029) written
  as a `\\uXXXX` escape: the same string to any JSON reader, and nothing raw on a terminal.
  Times are ISO-8601 in UTC, whatever `--tz` says.
- CSV: RFC 4180 (every field quoted where needed, CRLF line ends), read back exactly by
  Python's `csv` module (`newline=""`). Values are exact but for one case: a NUL cannot be
  kept in CSV by every reader, so a `statusMessage` (or a progress `message`, or an overdue
  `progressMessage`) that holds one is written escaped, NUL as `\\0` and a backslash as
  `\\\\`, and that row's `statusMessageEscaped` (`messageEscaped`, `progressMessageEscaped`)
  column says `true`. Reverse it with
  `re.sub(r"\\\\(.)", lambda m: "\\0" if m[1] == "0" else m[1], text)`.
  Lists (a request's `secretPaths` and `overrides`) are written as JSON text.
  Empty fields are null or empty strings (JSON tells them apart); booleans are true/false.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from deployledger import Receipt
from deployledger.cli import render
from deployledger.presentation import MESSAGE_COLUMNS, RECEIPT_COLUMNS
from deployledger.presentation.csvcells import csv_cell
from deployledger.presentation.csvcells import escape_nul as escape_nul

FORMATS = ("table", "json", "jsonl", "csv")

# Every command's columns (its JSON keys, in order: the CSV header) are decided in
# `deployledger.presentation.columns`, beside the dashboard's.
ESCAPED_FLAG = "statusMessageEscaped"

F = TypeVar("F", bound=Callable[..., Any])


def option(*, json_means: str = "json", format_alias: bool = False) -> Callable[[F], F]:
    """Add `-o/--output` and its `--json` alias (`-o json_means`), plus `--format` when
    `format_alias`; the command receives one keyword, `fmt`, a name in FORMATS."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs["fmt"] = _resolve(
                kwargs.pop("output"),
                kwargs.pop("as_json"),
                kwargs.pop("format_alias", None),
                json_means,
            )
            return command(*args, **kwargs)

        decorated: Any = wrapper
        if format_alias:
            decorated = click.option(
                "--format",
                "format_alias",
                type=click.Choice(FORMATS),
                metavar="FORMAT",
                help="The same as -o FORMAT (kept for scripts).",
            )(decorated)
        decorated = click.option(
            "--json", "as_json", is_flag=True, help=f"The same as -o {json_means}."
        )(decorated)
        decorated = click.option(
            "-o",
            "--output",
            type=click.Choice(FORMATS),
            metavar="FORMAT",
            help="table (the default), or exact data: json, jsonl or csv.",
        )(decorated)
        result: F = decorated
        return result

    return decorate


def _resolve(output: str | None, as_json: bool, alias: str | None, json_means: str) -> str:
    given = [("-o", output), ("--json", json_means if as_json else None), ("--format", alias)]
    chosen = [(name, value) for name, value in given if value is not None]
    if len({value for _, value in chosen}) > 1:
        said = ", ".join(name if name == "--json" else f"{name} {value}" for name, value in chosen)
        raise click.UsageError(f"{said}: choose one output format")
    return chosen[0][1] if chosen else "table"


def tz_option() -> Callable[[F], F]:
    """Add `--tz ZONE`: the zone of the times in tables (else `$TZ`, else UTC); the command
    receives `zone`, a tzinfo. JSON and CSV times stay in UTC."""

    def to_zone(ctx: click.Context, param: click.Parameter, value: str | None) -> tzinfo:
        if value is not None:
            zone = parse_zone(value)
            if zone is None:
                raise click.BadParameter(
                    f"{value!r} is not a time zone: use a name like Europe/Berlin, UTC, "
                    "or an offset like +02:00",
                    ctx=ctx,
                    param=param,
                )
            return zone
        from_env = os.environ.get("TZ", "").strip()
        if not from_env:
            return UTC
        zone = parse_zone(from_env)
        if zone is None:
            click.echo(f"deployledger: TZ={from_env!r} is not a time zone; showing UTC", err=True)
            return UTC
        return zone

    return click.option(
        "--tz",
        "zone",
        metavar="ZONE",
        callback=to_zone,
        help="Time zone of table times: Europe/Berlin, UTC, +02:00 (default: $TZ, else UTC).",
    )


_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def parse_zone(text: str) -> tzinfo | None:
    """`UTC`/`Z`, an offset (`+02:00`, `-0530`), an IANA name, or `:/path/to/zoneinfo`
    (as in `TZ`); None if it is none of them."""
    text = text.strip()
    if text.upper() in ("UTC", "Z", "GMT", ":UTC"):
        return UTC
    match = _OFFSET.match(text)
    if match:
        sign, hours, minutes = match.groups()
        if int(hours) > 23 or int(minutes) > 59:
            return None
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        return UTC if not delta else timezone(delta if sign == "+" else -delta)
    try:
        if text.startswith(":/"):
            with Path(text[1:]).open("rb") as handle:
                return ZoneInfo.from_file(handle, key=text[1:])
        return ZoneInfo(text.removeprefix(":"))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def write_table(text: str) -> None:
    """A table or block (already terminal-safe), for people."""
    click.echo(text)


def write_bytes(data: bytes) -> None:
    """Exact bytes to stdout, past click and past the text layer's encoding."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


to_json = render.to_json


def write_data(
    rows: Sequence[Mapping[str, Any]], fmt: str, columns: Sequence[str], *, single: bool = False
) -> None:
    """`rows` as json (an array, or the one object if `single`), jsonl or csv."""
    if fmt == "json":
        write_bytes((to_json(rows[0] if single else list(rows)) + "\n").encode())
    elif fmt == "jsonl":
        write_bytes("".join(to_json(row) + "\n" for row in rows).encode())
    elif fmt == "csv":
        write_bytes(to_csv(rows, columns, header=True).encode())
    else:  # pragma: no cover - the commands render tables themselves
        raise ValueError(fmt)


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, header: bool) -> str:
    """RFC 4180 CSV of `rows` (see the module docstring for the one escape)."""
    escaped = [name for name in MESSAGE_COLUMNS if name in columns]
    names = [*columns, *(name + "Escaped" for name in escaped)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(names)
    for row in rows:
        values = [_csv_value(row.get(name)) for name in columns]
        for name in escaped:
            message = row.get(name)
            needs = isinstance(message, str) and "\x00" in message
            if needs:
                values[list(columns).index(name)] = escape_nul(str(message))
            values.append("true" if needs else "false")
        writer.writerow(values)
    return out.getvalue()


def unescape_nul(text: str) -> str:
    """The reverse of the CSV escape: `\\0` is NUL, `\\\\` a backslash."""
    return re.sub(r"\\(.)", lambda m: "\x00" if m[1] == "0" else m[1], text, flags=re.DOTALL)


def _csv_value(value: Any) -> Any:
    """The export's cell (`presentation.csv_cell`); lists as JSON text, None empty."""
    if isinstance(value, list | dict):
        return to_json(value)
    return "" if value is None else csv_cell(value)


class ReceiptWriter:
    """Receipts printed as they come (a batch at a time) in one format: table lines, a JSON
    array (closed by `close()`), JSON Lines, or CSV with one header. Flushed after each write."""

    def __init__(self, fmt: str, sink: Callable[[bytes], None] | None = None) -> None:
        self.fmt = fmt
        self._started = False
        self._sink = sink or write_bytes

    def write(self, receipts: Sequence[Receipt]) -> None:
        if not receipts:
            return
        if self.fmt == "table":
            click.echo("\n".join(render.receipt_line(r) for r in receipts))
            return
        rows = [r.to_json() for r in receipts]
        if self.fmt == "json":
            opening = ",\n" if self._started else "["
            text = opening + ",\n".join(to_json(row) for row in rows)
        elif self.fmt == "jsonl":
            text = "".join(to_json(row) + "\n" for row in rows)
        else:
            text = to_csv(rows, RECEIPT_COLUMNS, header=not self._started)
        self._started = True
        self._sink(text.encode())

    def close(self) -> None:
        """End the output: close the JSON array (`[]` when no receipt came); a CSV without
        receipts is its header alone."""
        if self.fmt == "json":
            self._sink(b"]\n" if self._started else b"[]\n")
        elif self.fmt == "csv" and not self._started:
            self._sink(to_csv([], RECEIPT_COLUMNS, header=True).encode())


def write_receipts(receipts: Sequence[Receipt], fmt: str) -> None:
    """All receipts at once, in `fmt` (one of FORMATS)."""
    writer = ReceiptWriter(fmt)
    writer.write(receipts)
    writer.close()


def examples(*commands: str) -> str:
    """A `--help` epilog listing example command lines, kept as written (`\\b`)."""
    return "\b\nExamples:\n" + "\n".join(f"  {command}" for command in commands)
