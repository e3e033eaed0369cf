"""Read reports from files or stdin: a JSON object, a JSON array of objects, or JSON Lines.

Every value is numbered (report N) and located (line L), so that each problem can be
reported as `report N (line L): field: reason`. The input is read in chunks and parsed as
it comes, so that an input of any size is read in bounded memory:

- JSON Lines (one of the first two non-blank lines is a whole JSON object): each line is
  read on its own, so a broken line is reported on its line and the next lines are still
  read. A line holding an array contributes its elements, as a top-level array does.
- Otherwise documents, one after another: a top-level array contributes its elements,
  decoded one at a time (an array of any length is never held whole). A document cannot
  be resynchronised after a syntax error: the first one is reported and reading stops.

A key given twice in one JSON object is a problem, never silently the last value.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from deployledger import MAX_JSON_DEPTH, Problem, nested_too_deep
from deployledger.cli.textstream import CHUNK, WS, NotUTF8, Read, Text, decode_text, text_chunks

__all__ = ["CHUNK", "RawReport", "Read", "decode_text", "json_kind", "read_reports"]
# A decode that fails, or a number that ends, this close to the end of the text read so far
# may only be cut short by the chunk boundary: read more and decode again.
_MARGIN = 32
# A report is flat; deeper nesting anywhere in one is refused, as over HTTP (the same way
# whatever the depth of the stack the parser starts from).
_TOO_DEEP = f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels"


@dataclass(frozen=True, slots=True)
class RawReport:
    """One decoded JSON value, where it came from, and its number in the input."""

    value: Any
    number: int
    line: int
    end_line: int = field(default=0, compare=False)  # where the value ends (0: on `line`)

    @property
    def last_line(self) -> int:
        return self.end_line or self.line


Item = RawReport | Problem

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


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {json.dumps(key, ensure_ascii=False)}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return found


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


class _Syntax(Exception):
    def __init__(self, reason: str, pos: int) -> None:
        self.reason, self.pos = reason, pos


def _decode_json(text: str, pos: int) -> tuple[Any, int]:
    """One JSON value at `pos`; `_Syntax` for anything that is not valid."""
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as e:
        raise _Syntax(f"invalid JSON: {e.msg}", e.pos) from None
    except _DuplicateKey as e:
        raise _Syntax(str(e), pos) from None
    except (ValueError, RecursionError) as e:
        raise _Syntax(_decode_problem(e), pos) from None


def _value(src: Text) -> tuple[Any, int]:
    """The JSON value at `src.pos` and where it ends, reading more of the input while the
    value may only look broken, or complete, because the text read so far ends in it."""
    while True:
        start, size = src.pos, len(src.text)
        near_end = False
        try:
            value, end = _decode_json(src.text, start)
            near_end = isinstance(value, int | float) and end > size - _MARGIN
        except _Syntax as e:
            if src.eof or not (e.pos > size - _MARGIN or e.reason.startswith(_UNTERMINATED)):
                raise
            near_end = True
        if not near_end or src.eof:
            return value, end
        src.fill(2 * (size - start) + src.step)  # double: each retry decodes from the start


_UNTERMINATED = "invalid JSON: Unterminated string"


def _items(src: Text) -> Iterator[Item]:
    if _is_json_lines(src):
        yield from _json_lines(src)
        return
    number = 0
    while src.skip_ws():
        if src.text[src.pos] == "[":
            src.pos += 1
            number, whole = yield from _array(src, number)
            if not whole:
                return
            continue
        number += 1
        start_line = src.line(src.pos)
        try:
            value, end = _value(src)
        except _Syntax as e:
            yield Problem("(json)", e.reason, number, src.line(e.pos))
            return
        src.pos = end
        if not isinstance(value, dict | list) and (glued := _after_scalar(src)) is not None:
            reason = f"invalid JSON: unexpected {glued!r} after {json_kind(value)}"
            yield Problem("(json)", reason, number, src.line(src.pos))
            return
        yield _report(value, number, start_line, src.line(end - 1))


def _after_scalar(src: Text) -> str | None:
    """What follows a top-level string, number, boolean or null, if it shows the value to
    be a piece of a broken document (`"tenantId": ...` lost its `{`): a character right
    after it, or a `:`, `,`, `}` or `]` after blanks. One problem then, not two."""
    if src.pos >= len(src.text) and not src.fill():
        return None
    if src.text[src.pos] not in WS:
        return src.text[src.pos]
    if src.skip_ws() and src.text[src.pos] in ":,}]":
        return src.text[src.pos]
    return None


def _report(value: Any, number: int, line: int, end_line: int = 0) -> Item:
    """A decoded value as a report, unless it nests deeper than `MAX_JSON_DEPTH`."""
    if nested_too_deep(value):
        return Problem("(json)", _TOO_DEEP, number, line)
    return RawReport(value, number, line, end_line)


def _array(src: Text, number: int) -> Generator[Item, None, tuple[int, bool]]:
    """The elements of the array whose `[` was just read, numbered on from `number`; returns
    the last number given, and whether the array was read to its `]`."""
    if src.skip_ws() and src.text[src.pos] == "]":
        src.pos += 1
        return number, True
    while True:
        number += 1
        if not src.skip_ws():
            reason = "invalid JSON: the input ends inside an array (expected a value)"
            yield Problem("(json)", reason, number, src.line(src.pos))
            return number, False
        start_line = src.line(src.pos)
        try:
            value, end = _value(src)
        except _Syntax as e:
            yield Problem("(json)", e.reason, number, src.line(e.pos))
            return number, False
        src.pos = end
        yield _report(value, number, start_line, src.line(end - 1))
        if not src.skip_ws():
            reason = "invalid JSON: the input ends inside an array (expected ',' or ']')"
            yield Problem("(json)", reason, number + 1, src.line(src.pos))
            return number + 1, False
        if src.text[src.pos] == "]":
            src.pos += 1
            return number, True
        if src.text[src.pos] != ",":
            reason = "invalid JSON: expected ',' or ']' after an array element"
            yield Problem("(json)", reason, number + 1, src.line(src.pos))
            return number + 1, False
        src.pos += 1


def _is_json_lines(src: Text) -> bool:
    """Whether one of the first two non-blank lines is a whole JSON object on its own.
    A text that opens with `[` is one JSON array, however its lines fall (and may be
    one line of any length). Reads ahead past the leading blanks, consuming nothing else."""
    if not src.skip_ws() or src.text[src.pos] == "[":
        return False
    index = searched = 0  # relative to src.pos, which a fill may move
    checked = 0
    while checked < 2:
        end = src.text.find("\n", src.pos + searched)
        if end < 0:
            searched = len(src.text) - src.pos
            if src.fill(searched + src.step):
                continue
        line = src.text[src.pos + index : None if end < 0 else end]
        end -= src.pos
        if line.strip():
            try:
                if isinstance(_DECODER.decode(line), dict):
                    return True
            except _DuplicateKey:
                if line.lstrip().startswith("{"):
                    return True  # a whole object, if not a valid report
            except (ValueError, RecursionError):
                pass
            checked += 1
        if end < 0:
            return False
        index = searched = end + 1
    return False


def _json_lines(src: Text) -> Iterator[Item]:
    number = 0
    line_number = src.line(src.pos) - 1
    while (line := src.readline()) is not None:
        line_number += 1
        if not line.strip():
            continue
        try:
            value = _DECODER.decode(line)
        except json.JSONDecodeError as e:
            number += 1
            reason = f"invalid JSON: {e.msg} (column {e.colno})"
            yield Problem("(json)", reason, number, line_number)
            continue
        except (ValueError, RecursionError) as e:
            number += 1
            yield Problem("(json)", _decode_problem(e), number, line_number)
            continue
        for element in value if isinstance(value, list) else [value]:
            number += 1
            yield _report(element, number, line_number)


def _decode_problem(error: ValueError | RecursionError) -> str:
    """What is wrong, past the syntax: a key given twice, too deep, too long a number."""
    if isinstance(error, _DuplicateKey):
        return str(error)
    if isinstance(error, RecursionError):
        return _TOO_DEEP
    if "digits" in str(error):  # int() refuses more than sys.get_int_max_str_digits()
        return f"invalid JSON: a number has more than {sys.get_int_max_str_digits():,} digits"
    return f"invalid JSON: {error}"


def read_reports(read: Read, chunk: int = CHUNK) -> Iterator[Item]:
    """The values of the input, in order, each a `RawReport` or a `Problem`; `read(n)`
    returns up to `n` bytes, and no bytes at the end of the input."""
    src = Text(text_chunks(read, chunk), chunk)
    try:
        yield from _items(src)
    except NotUTF8 as e:
        yield e.problem


def parse_reports_text(text: str) -> tuple[list[RawReport], list[Problem]]:
    """Split input text into JSON values (see the module's docstring)."""
    reports: list[RawReport] = []
    problems: list[Problem] = []
    for item in _items(Text(iter([text]))):
        if isinstance(item, Problem):
            problems.append(item)
        else:
            reports.append(item)
    return reports, problems
