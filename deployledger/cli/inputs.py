"""Read reports from files or stdin: a JSON object, a JSON array of objects, or JSON Lines.

Every value is numbered (report N) and located (line L), so that each problem
can be reported as `report N (line L): field: reason`.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from deployledger import Problem

_WS = " \t\r\n"


@dataclass(frozen=True, slots=True)
class RawReport:
    """One decoded JSON value, where it came from, and its number in the input."""

    value: Any
    number: int
    line: int


# What a JSON value is, in words, for "a report must be a JSON object, got ..."
_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"),
    ((int, float), "a number"),
    (str, "a string"),
    (list, "an array"),
)


def json_kind(value: Any) -> str:
    """`null`, `a boolean`, `a number`, `a string` or `an array`."""
    if value is None:
        return "null"
    return next((name for kind, name in _KINDS if isinstance(value, kind)), type(value).__name__)


class _Lines:
    def __init__(self, text: str) -> None:
        self._starts = [i for i, char in enumerate(text) if char == "\n"]

    def at(self, index: int) -> int:
        return bisect_right(self._starts, index - 1) + 1


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WS:
        index += 1
    return index


def decode_text(data: bytes) -> tuple[str | None, Problem | None]:
    """Bytes to text: UTF-8 (a BOM is allowed)."""
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as e:
        return None, Problem("(input)", f"not valid UTF-8 at byte {e.start}")


def parse_reports_text(text: str) -> tuple[list[RawReport], list[Problem]]:
    """Split input text into JSON values; a top-level array contributes its elements.

    JSON Lines is read line by line, so a broken line is reported on its own line and
    the lines after it are still checked. A pretty-printed document cannot be resynchronised
    after a syntax error: the first one is reported and reading stops.
    """
    if _looks_like_json_lines(text):
        return _parse_lines(text)
    decoder = json.JSONDecoder()
    lines = _Lines(text)
    reports: list[RawReport] = []
    problems: list[Problem] = []
    index = _skip(text, 0)
    while index < len(text):
        if text[index] == "[":
            index = _read_array(text, index, decoder, lines, reports, problems)
        else:
            number = len(reports) + len(problems) + 1
            start = index
            try:
                value, index = decoder.raw_decode(text, index)
            except json.JSONDecodeError as e:
                problems.append(
                    Problem("(json)", f"invalid JSON: {e.msg}", number, lines.at(e.pos))
                )
                break
            reports.append(RawReport(value, number, lines.at(start)))
        index = _skip(text, index)
    return reports, problems


def _looks_like_json_lines(text: str) -> bool:
    """Whether one of the first two non-blank lines is a whole JSON object on its own.

    A text that opens with `[` is one JSON array, however its lines fall."""
    if text.lstrip().startswith("["):
        return False
    checked = 0
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            if isinstance(json.loads(line), dict):
                return True
        except ValueError:
            pass
        checked += 1
        if checked == 2:
            break
    return False


def _parse_lines(text: str) -> tuple[list[RawReport], list[Problem]]:
    reports: list[RawReport] = []
    problems: list[Problem] = []
    number = 0
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        number += 1
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            reason = f"invalid JSON: {e.msg} (column {e.colno})"
            problems.append(Problem("(json)", reason, number, line_number))
            continue
        reports.append(RawReport(value, number, line_number))
    return reports, problems


def _read_array(
    text: str,
    index: int,
    decoder: json.JSONDecoder,
    lines: _Lines,
    reports: list[RawReport],
    problems: list[Problem],
) -> int:
    start_number = len(reports) + len(problems)
    number = start_number
    index = _skip(text, index + 1)
    if index < len(text) and text[index] == "]":
        return index + 1
    while True:
        number += 1
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError as e:
            problems.append(Problem("(json)", f"invalid JSON: {e.msg}", number, lines.at(e.pos)))
            return len(text)  # an array cannot be resynchronised reliably
        reports.append(RawReport(value, number, lines.at(index)))
        index = _skip(text, end)
        if index < len(text) and text[index] == ",":
            index = _skip(text, index + 1)
            continue
        if index < len(text) and text[index] == "]":
            return index + 1
        problems.append(
            Problem("(json)", "invalid JSON: expected ',' or ']' in array", number, lines.at(index))
        )
        return len(text)
