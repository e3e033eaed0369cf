"""Input text, read in chunks: UTF-8 decoded on the way, with line numbers, and what has
been consumed dropped, so that an input of any size is held a chunk or a value at a time."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator

from deployledger import Problem

CHUNK = 1 << 16  # bytes per read
WS = " \t\r\n"  # JSON's whitespace

Read = Callable[[int], bytes]


class NotUTF8(Exception):
    def __init__(self, offset: int) -> None:
        self.problem = Problem("(input)", f"not valid UTF-8 at byte {offset}")


def text_chunks(read: Read, size: int = CHUNK) -> Iterator[str]:
    """UTF-8 text, chunk by chunk; a byte order mark at the start is dropped. Raises
    `NotUTF8` with the offset of the first byte that is not UTF-8, counted in the input."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    fed = 0
    first = True
    while True:
        data = read(size)
        pending = len(decoder.getstate()[0])
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError as e:
            raise NotUTF8(fed - pending + e.start) from None
        fed += len(data)
        if first and text:
            first = False
            text = text.removeprefix("\ufeff")
        if text:
            yield text
        if not data:
            return


def decode_text(data: bytes) -> tuple[str | None, Problem | None]:
    """Bytes to text: UTF-8 (a byte order mark is allowed)."""
    chunks = iter([data, b""])
    try:
        return "".join(text_chunks(lambda _: next(chunks))), None
    except NotUTF8 as e:
        return None, e.problem


class Text:
    """The text read so far and not yet consumed (from `pos`), and line numbers in it."""

    def __init__(self, chunks: Iterator[str], step: int = CHUNK) -> None:
        self._chunks = chunks
        self.step = step  # how far to read ahead, in characters (about a chunk)
        self.text = ""
        self.pos = 0
        self.eof = False
        self._mark, self._mark_line = 0, 1  # the line number of one position

    def fill(self, more: int = 1) -> bool:
        """Read until at least `more` characters follow `pos`, or to the end; False if
        none could be added."""
        added = False
        while not self.eof and len(self.text) - self.pos < more:
            chunk = next(self._chunks, None)
            if chunk is None:
                self.eof = True
                break
            if self.pos >= self.step:  # drop what was consumed (never looked at again)
                self._mark_line = self.line(self.pos)
                self.text, self._mark = self.text[self.pos :], 0
                self.pos = 0
            self.text += chunk
            added = True
        return added

    def line(self, index: int) -> int:
        """The line number of `index` (forward from the last one asked, usually)."""
        if index >= self._mark:
            self._mark_line += self.text.count("\n", self._mark, index)
        else:
            self._mark_line -= self.text.count("\n", index, self._mark)
        self._mark = index
        return self._mark_line

    def skip_ws(self) -> bool:
        """Move past whitespace; False at the end of the input."""
        while True:
            text, pos = self.text, self.pos
            while pos < len(text) and text[pos] in WS:
                pos += 1
            self.pos = pos
            if pos < len(text):
                return True
            if not self.fill():
                return False

    def readline(self) -> str | None:
        """The next line without its newline; None at the end of the input."""
        searched = self.pos
        while True:
            end = self.text.find("\n", searched)
            if end >= 0:
                line, self.pos = self.text[self.pos : end], end + 1
                return line
            searched = len(self.text) - self.pos
            if not self.fill(searched + 1):
                break
            searched += self.pos
        if self.pos >= len(self.text):
            return None
        line, self.pos = self.text[self.pos :], len(self.text)
        return line
