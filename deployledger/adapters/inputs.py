"""Read reports from files or stdin: a JSON object, a JSON array of objects, or JSON Lines.

Every value is numbered (report N) and located (line L), so that each problem
can be reported as `report N (line L): field: reason`.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from deployledger.errors import Problem

_WS = " \t\r\n"


@dataclass(frozen=True, slots=True)
class RawReport:
    """One decoded JSON value, where it came from, and its number in the input."""

    value: Any
    number: int
    line: int


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
    """Split input text into JSON values; a top-level array contributes its elements."""
    decoder = json.JSONDecoder()
    lines = _Lines(text)
    reports: list[RawReport] = []
    problems: list[Problem] = []
    index = _skip(text, 0)
    number = 0
    while index < len(text):
        if text[index] == "[":
            index = _read_array(text, index, decoder, lines, reports, problems)
            number = len(reports) + len(problems)
        else:
            number += 1
            start = index
            try:
                value, index = decoder.raw_decode(text, index)
            except json.JSONDecodeError as e:
                problems.append(
                    Problem("(json)", f"invalid JSON: {e.msg}", number, lines.at(e.pos))
                )
                index = _next_line(text, e.pos)
            else:
                reports.append(RawReport(value, number, lines.at(start)))
        index = _skip(text, index)
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


def _next_line(text: str, pos: int) -> int:
    newline = text.find("\n", pos)
    return len(text) if newline < 0 else newline + 1
